'use client'
import type { ErrorInfo, Run, RunEvent } from '@ops-control-room/core'
import { useId } from 'react'
import { useRunEvents } from '../hooks/useRunEvents'
import { formatDuration } from './format'
import { RelativeTime } from './RelativeTime'
import { ScrollablePre } from './ScrollablePre'

/** Events that end an attempt (or record an operator's retry), with what they carry. */
const ENDINGS = new Set(['run:failed', 'run:retry_scheduled', 'run:recovered', 'run:released', 'run:retried'])

interface EndedAttempt {
  attempt: number | null
  type: string
  at: string
  message: string
  error: ErrorInfo | null
}

/** The attempts that ended before the current one, from the run's non-routine events. */
export function endedAttempts(events: readonly RunEvent[]): EndedAttempt[] {
  return events
    .filter((e) => ENDINGS.has(e.type))
    .map((e) => {
      const data = (e.data ?? {}) as { attempt?: number; error?: ErrorInfo | null }
      return {
        attempt: typeof data.attempt === 'number' ? data.attempt : null,
        type: e.type.replace(/^run:/, ''),
        at: e.createdAt,
        message: e.message,
        error: data.error && typeof data.error === 'object' ? data.error : null,
      }
    })
}

const between = (from: string | null, to: string | null) =>
  from && to ? formatDuration(Math.max(0, Date.parse(to) - Date.parse(from))) : '—'

/**
 * A run's timeline: created, scheduled, started, finished, queue wait and run time of the current
 * attempt, and every earlier attempt that ended (failed, recovered, released, retried) with its
 * error and stack — not only the last one.
 */
export function RunTimeline({ run }: { run: Run }) {
  const events = useRunEvents(run.id)
  const headingId = useId()
  const ended = endedAttempts(events.data ?? [])
  // Queued from when it was enqueued, or from its scheduled time if later.
  const queuedSince = [run.runAt, run.createdAt].sort().at(-1) ?? run.createdAt
  const rows: [string, string | null][] = [
    ['created', run.createdAt],
    ['scheduled', run.runAt],
    ['started', run.startedAt],
    ['finished', run.finishedAt],
  ]
  return (
    <section className="ocr-timeline" aria-labelledby={headingId}>
      <h3 id={headingId}>Timeline</h3>
      <dl className="ocr-facts">
        {rows.map(([label, at]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{at ? <RelativeTime iso={at} /> : '—'}</dd>
          </div>
        ))}
        <div>
          <dt>queue wait</dt>
          <dd>{between(queuedSince, run.startedAt)}</dd>
        </div>
        <div>
          <dt>run time</dt>
          <dd>{between(run.startedAt, run.finishedAt)}</dd>
        </div>
      </dl>
      {ended.length > 0 ? (
        <ol className="ocr-timeline__attempts" aria-label="Earlier attempts">
          {ended.map((a) => (
            <li key={`${a.at}-${a.type}`} data-type={a.type}>
              <strong>
                {a.attempt !== null ? `Attempt ${a.attempt}` : 'Attempt'} {a.type}
              </strong>{' '}
              <RelativeTime iso={a.at} />
              {a.error ? (
                <details>
                  <summary>
                    {a.error.type}: {a.error.message}
                  </summary>
                  {a.error.stack ? (
                    <ScrollablePre className="ocr-json" label="Stack">
                      {a.error.stack}
                    </ScrollablePre>
                  ) : null}
                </details>
              ) : (
                <span className="ocr-muted"> {a.message}</span>
              )}
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  )
}
