'use client'
import type { Run, Session } from '@ops-control-room/core'
import { useEffect, useId, useState } from 'react'
import { useArtifacts } from '../hooks/useArtifacts'
import { useCancelRun } from '../hooks/useCancelRun'
import { useNow } from '../hooks/useNow'
import { useRetryRuns } from '../hooks/useRetryRuns'
import { useRun } from '../hooks/useRun'
import { ArtifactViewer } from './ArtifactViewer'
import { DownloadAllArtifacts } from './DownloadAllArtifacts'
import { EventLog } from './EventLog'
import { formatBytes, formatDuration, runElapsedMs } from './format'
import { ReplayForm } from './ReplayForm'
import { RunTimeline } from './RunTimeline'
import { ScrollablePre } from './ScrollablePre'
import { StatusBadge } from './StatusBadge'
import { formatExact, useUtc } from './TimeFormat'

export interface RunDetailsProps {
  runId: string
  /** Shows a Close button. */
  onClose?: () => void
  /**
   * Shows a Replay button: a form prefilled from this run to edit and enqueue as a new run; called
   * with the new run.
   */
  onReplayed?: (result: { run: Run; session: Session | null }) => void
  /** The session the replay form also offers (the board's current one). */
  currentSession?: Pick<Session, 'id' | 'name'>
}

/** One run in full: facts, params, result, structured error, live event log and artifacts. */
export function RunDetails({ runId, onClose, onReplayed, currentSession }: RunDetailsProps) {
  const run = useRun(runId)
  const headingId = useId()
  const r = run.data
  const [replaying, setReplaying] = useState(false)
  // Another run: its own form, not the last run's.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the run changes
  useEffect(() => setReplaying(false), [runId])
  return (
    <section className="ocr-details" aria-labelledby={headingId} data-run-id={runId}>
      <header className="ocr-details__head">
        <h2 id={headingId}>
          {r ? (
            <>
              {r.kind} <span className="ocr-muted">#{r.seq}</span> <StatusBadge status={r.status} />
            </>
          ) : (
            'Run'
          )}
        </h2>
        {r ? <RunActions run={r} /> : null}
        {r && onReplayed ? (
          <button
            type="button"
            className="ocr-button"
            aria-expanded={replaying}
            onClick={() => setReplaying((v) => !v)}
          >
            Replay<span className="ocr-sr-only"> as a new run</span>
          </button>
        ) : null}
        {onClose ? (
          <button type="button" className="ocr-button" onClick={onClose}>
            Close<span className="ocr-sr-only"> run details</span>
          </button>
        ) : null}
      </header>
      {run.status === 'pending' ? <p className="ocr-muted">Loading…</p> : null}
      {run.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load run: {run.error?.message}
        </p>
      ) : null}
      {r && onReplayed && replaying ? (
        <ReplayForm
          key={r.id}
          run={r}
          currentSession={currentSession}
          onCancel={() => setReplaying(false)}
          onEnqueued={(result) => {
            setReplaying(false)
            onReplayed(result)
          }}
        />
      ) : null}
      {r ? <RunFacts run={r} /> : null}
      {r ? (
        <>
          <h3>Params</h3>
          <ScrollablePre className="ocr-json" label="Params">
            {JSON.stringify(r.params, null, 2)}
          </ScrollablePre>
        </>
      ) : null}
      {r?.result != null ? (
        <>
          <h3>Result</h3>
          <ScrollablePre className="ocr-json" label="Result">
            {JSON.stringify(r.result, null, 2)}
          </ScrollablePre>
        </>
      ) : null}
      {r?.error ? <RunError error={r.error} /> : null}
      {r ? <RunTimeline run={r} /> : null}
      <EventLog runId={runId} />
      <ArtifactsSection runId={runId} />
    </section>
  )
}

/** Cancel (queued or running) and retry (failed or cancelled), with their errors. */
function RunActions({ run }: { run: Run }) {
  const cancel = useCancelRun()
  const retry = useRetryRuns()
  const cancellable = run.status === 'queued' || run.status === 'running'
  const cancelling = run.status === 'running' && run.cancelRequestedAt !== null
  const retryable = run.status === 'failed' || run.status === 'cancelled'
  const error = cancel.error ?? retry.error
  return (
    <span className="ocr-details__actions">
      {cancellable ? (
        <button
          type="button"
          className="ocr-button ocr-button--danger"
          disabled={cancel.isPending || cancelling}
          onClick={() => cancel.mutate(run.id, 'cancelled from the run details').catch(() => {})}
        >
          {cancelling ? 'Cancelling…' : 'Cancel run'}
        </button>
      ) : null}
      {retryable ? (
        <button
          type="button"
          className="ocr-button"
          disabled={retry.isPending}
          onClick={() => retry.mutate([run.id]).catch(() => {})}
        >
          Retry run
        </button>
      ) : null}
      {error ? (
        <span role="alert" className="ocr-error">
          {error.message}
        </span>
      ) : null}
    </span>
  )
}

function RunFacts({ run }: { run: Run }) {
  const utc = useUtc()
  const now = useNow(1000, run.status === 'running')
  const elapsed = runElapsedMs(run, now)
  const facts: [string, string][] = [
    ['id', run.id],
    ['lane', run.lane],
    ['priority', String(run.priority)],
    ['attempt', `${run.attempt}/${run.maxAttempts}`],
    ['worker', run.workerId ?? '—'],
    ['template', run.templateName ? `${run.templateName}@${run.templateVersion}` : '—'],
    ['created', formatExact(run.createdAt, utc)],
    ['elapsed', elapsed === null ? '—' : formatDuration(elapsed)],
  ]
  if (run.progress !== null)
    facts.push(['progress', `${Math.round(run.progress * 100)}% ${run.progressMessage ?? ''}`.trim()])
  if (run.cancelReason) facts.push(['cancel reason', run.cancelReason])
  return (
    <dl className="ocr-facts">
      {facts.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  )
}

function RunError({ error }: { error: NonNullable<Run['error']> }) {
  return (
    <section className="ocr-run-error" aria-label="Error">
      <h3>Error</h3>
      <p>
        <strong className="ocr-run-error__type">{error.type}</strong>: {error.message}
      </p>
      {error.context ? (
        <ScrollablePre className="ocr-json" label="Error context">
          {JSON.stringify(error.context, null, 2)}
        </ScrollablePre>
      ) : null}
      {error.stack ? (
        <details>
          <summary>Stack trace</summary>
          <ScrollablePre className="ocr-json" label="Stack">
            {error.stack}
          </ScrollablePre>
        </details>
      ) : null}
    </section>
  )
}

function ArtifactsSection({ runId }: { runId: string }) {
  const artifacts = useArtifacts(runId)
  const [openId, setOpenId] = useState<string | null>(null)
  const headingId = useId()
  const list = artifacts.data ?? []
  const open = list.find((a) => a.id === openId) ?? null
  useEffect(() => {
    if (openId === null && list.length === 1) setOpenId(list[0]?.id ?? null)
  }, [list, openId])
  return (
    <section className="ocr-artifacts" aria-labelledby={headingId}>
      <h3 id={headingId}>
        Artifacts <span className="ocr-muted">({list.length})</span>
      </h3>
      {list.length === 0 ? <p className="ocr-muted">No artifacts.</p> : null}
      <ul className="ocr-artifacts__list">
        {list.map((a) => (
          <li key={a.id}>
            <button
              type="button"
              className="ocr-link"
              aria-pressed={a.id === openId}
              onClick={() => setOpenId(a.id === openId ? null : a.id)}
            >
              {a.name}
            </button>{' '}
            <span className="ocr-muted">
              {a.kind} · {a.contentType} {formatBytes(a.size)}
            </span>
          </li>
        ))}
      </ul>
      {list.length > 0 ? <DownloadAllArtifacts runId={runId} /> : null}
      {open ? <ArtifactViewer artifact={open} /> : null}
    </section>
  )
}
