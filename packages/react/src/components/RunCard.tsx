'use client'
import type { Run } from '@ops-control-room/core'
import type { MouseEvent } from 'react'
import { useCancelRun } from '../hooks/useCancelRun'
import { useNow } from '../hooks/useNow'
import { useRetryRuns } from '../hooks/useRetryRuns'
import { formatDuration, runElapsedMs, shortId } from './format'
import { StatusBadge } from './StatusBadge'

export interface RunCardProps {
  run: Run
  /** Called when the user opens the run (its details). */
  onOpen?: (run: Run) => void
  /** The run's URL: Details becomes a link (a plain click still calls onOpen). */
  href?: string
  selected?: boolean
  /** Shows a selection checkbox (bulk actions) in this state. */
  checked?: boolean
  onCheckedChange?: (run: Run, checked: boolean) => void
  /** The run's session name, shown on the card (boards that mix sessions). */
  sessionName?: string
  /**
   * Why the run is at risk (its worker is dead or silent): marked on the card. It is still "running"
   * in the database until its lease runs out and it is recovered.
   */
  atRisk?: string
}

/** A plain left click without modifiers: the app handles it; others open a tab as usual. */
const isPlainClick = (e: MouseEvent) => e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey

/**
 * One run on the Runboard: kind, status, progress, attempt, elapsed time, worker, its error (one
 * line, clipped: the card never widens its lane), cancel and retry. Fixed height, so lanes can be
 * virtualised.
 */
export function RunCard({
  run,
  onOpen,
  href,
  selected,
  checked,
  onCheckedChange,
  sessionName,
  atRisk,
}: RunCardProps) {
  const cancel = useCancelRun()
  const retry = useRetryRuns()
  const now = useNow(1000, run.status === 'running')
  const elapsed = runElapsedMs(run, now)
  const cancellable = run.status === 'queued' || run.status === 'running'
  const retryable = run.status === 'failed' || run.status === 'cancelled'
  const cancelling = run.status === 'running' && run.cancelRequestedAt !== null
  const label = `${run.kind} #${run.seq}`
  const error = cancel.error ?? retry.error
  return (
    <article
      className="ocr-run"
      data-run-id={run.id}
      data-status={run.status}
      data-at-risk={atRisk ? 'true' : undefined}
      aria-current={selected ? 'true' : undefined}
      aria-label={`${label}, ${run.status}${atRisk ? ', at risk' : ''}${sessionName ? `, in ${sessionName}` : ''}`}
    >
      <header className="ocr-run__head">
        {checked !== undefined ? (
          <input
            type="checkbox"
            className="ocr-run__check"
            checked={checked}
            onChange={(e) => onCheckedChange?.(run, e.target.checked)}
            aria-label={`Select ${label}`}
          />
        ) : null}
        <span className="ocr-run__kind" title={run.kind}>
          {run.kind}
        </span>
        <span className="ocr-run__seq">#{run.seq}</span>
        <StatusBadge status={run.status} cancelling={cancelling} />
        {atRisk ? (
          <span className="ocr-run__risk" title={atRisk}>
            at risk
          </span>
        ) : null}
      </header>
      {sessionName !== undefined ? (
        <p className="ocr-run__session" title={sessionName}>
          {sessionName}
        </p>
      ) : null}
      <div className="ocr-run__progress">
        {run.status === 'running' || run.progress !== null ? (
          <>
            <progress
              max={1}
              value={run.progress ?? undefined}
              aria-label={`${label} progress`}
              aria-valuetext={
                run.progress === null
                  ? 'unknown'
                  : `${Math.round(run.progress * 100)}% ${run.progressMessage ?? ''}`
              }
            />
            {run.progressMessage ? (
              <span className="ocr-run__progress-msg" title={run.progressMessage}>
                {run.progressMessage}
              </span>
            ) : null}
          </>
        ) : null}
      </div>
      <dl className="ocr-run__facts">
        <div>
          <dt>attempt</dt>
          <dd>
            {run.attempt}/{run.maxAttempts}
          </dd>
        </div>
        <div>
          <dt>elapsed</dt>
          <dd className="ocr-run__elapsed">{elapsed === null ? '—' : formatDuration(elapsed)}</dd>
        </div>
        <div>
          <dt>worker</dt>
          <dd title={run.workerId ?? undefined}>{run.workerId ?? '—'}</dd>
        </div>
      </dl>
      {run.error ? (
        <p className="ocr-run__error" title={`${run.error.type}: ${run.error.message}`}>
          {run.error.type}: {run.error.message}
        </p>
      ) : null}
      <div className="ocr-run__actions">
        {href ? (
          <a
            className="ocr-button"
            href={href}
            onClick={(e) => {
              if (!onOpen || !isPlainClick(e)) return
              e.preventDefault()
              onOpen(run)
            }}
          >
            Details<span className="ocr-sr-only"> of {label}</span>
          </a>
        ) : onOpen ? (
          <button type="button" className="ocr-button" onClick={() => onOpen(run)}>
            Details<span className="ocr-sr-only"> of {label}</span>
          </button>
        ) : null}
        {cancellable ? (
          <button
            type="button"
            className="ocr-button ocr-button--danger"
            disabled={cancel.isPending || cancelling}
            onClick={() => cancel.mutate(run.id, 'cancelled from the Runboard').catch(() => {})}
          >
            {cancelling ? 'Cancelling…' : 'Cancel'}
            <span className="ocr-sr-only"> {label}</span>
          </button>
        ) : null}
        {retryable ? (
          <button
            type="button"
            className="ocr-button"
            disabled={retry.isPending}
            onClick={() => retry.mutate([run.id]).catch(() => {})}
          >
            Retry<span className="ocr-sr-only"> {label}</span>
          </button>
        ) : null}
      </div>
      {error ? (
        <p role="alert" className="ocr-error ocr-run__alert" title={error.message}>
          Could not {cancel.error ? 'cancel' : 'retry'} {shortId(run.id)}: {error.message}
        </p>
      ) : null}
    </article>
  )
}
