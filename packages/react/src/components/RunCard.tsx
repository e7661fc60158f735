'use client'
import type { Run } from '@ops-control-room/core'
import { useCancelRun } from '../hooks/useCancelRun'
import { useNow } from '../hooks/useNow'
import { formatDuration, runElapsedMs, shortId } from './format'
import { StatusBadge } from './StatusBadge'

export interface RunCardProps {
  run: Run
  /** Called when the user opens the run (its details). */
  onOpen?: (run: Run) => void
  selected?: boolean
}

/** One run on the Runboard: kind, status, progress, attempt, elapsed time, worker, and cancel. */
export function RunCard({ run, onOpen, selected }: RunCardProps) {
  const cancel = useCancelRun()
  const now = useNow(1000, run.status === 'running')
  const elapsed = runElapsedMs(run, now)
  const cancellable = run.status === 'queued' || run.status === 'running'
  const cancelling = run.status === 'running' && run.cancelRequestedAt !== null
  const label = `${run.kind} #${run.seq}`
  return (
    <article
      className="ocr-run"
      data-run-id={run.id}
      data-status={run.status}
      aria-current={selected ? 'true' : undefined}
      aria-label={`${label}, ${run.status}`}
    >
      <header className="ocr-run__head">
        <span className="ocr-run__kind">{run.kind}</span>
        <span className="ocr-run__seq">#{run.seq}</span>
        <StatusBadge status={run.status} cancelling={cancelling} />
      </header>
      {run.status === 'running' || run.progress !== null ? (
        <div className="ocr-run__progress">
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
          {run.progressMessage ? <span className="ocr-run__progress-msg">{run.progressMessage}</span> : null}
        </div>
      ) : null}
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
        <p className="ocr-run__error" title={run.error.message}>
          {run.error.type}: {run.error.message}
        </p>
      ) : null}
      <div className="ocr-run__actions">
        {onOpen ? (
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
      </div>
      {cancel.error ? (
        <p role="alert" className="ocr-error">
          Could not cancel {shortId(run.id)}: {cancel.error.message}
        </p>
      ) : null}
    </article>
  )
}
