'use client'
import { isOpsError, MAX_BULK_RUNS, type RunFilter, type RunStatus } from '@ops-control-room/core/client'
import { useEffect, useState } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { RunListFilter } from '../store/runListStore'

type Action = 'cancel' | 'retry'

const APPLIES: Record<Action, readonly RunStatus[]> = {
  cancel: ['queued', 'running'],
  retry: ['failed', 'cancelled'],
}

const runs = (k: number) => `${k.toLocaleString('en')} run${k === 1 ? '' : 's'}`

/** The board's filter as the server's (mutable arrays, no undefined keys). */
function toRunFilter(f: RunListFilter): RunFilter {
  const out: RunFilter = {}
  if (f.sessionId) out.sessionId = f.sessionId
  if (f.lanes) out.lanes = [...f.lanes]
  if (f.status) out.status = [...f.status]
  for (const k of ['kind', 'workerId', 'search', 'createdAfter', 'createdBefore'] as const)
    if (f[k] !== undefined) out[k] = f[k]
  return out
}

/** The filter narrowed to the statuses an action applies to (null: none of them). */
function forAction(filter: RunFilter, action: Action): RunFilter | null {
  const asked =
    filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status]
  const status = APPLIES[action].filter((s) => asked === undefined || asked.includes(s))
  return status.length === 0 ? null : { ...filter, status }
}

export interface MatchingActionsProps {
  /** Which runs: every run in the database matching the board's filter (with its `sessionId`). */
  filter: RunListFilter
  /** Where result and error lines go (else to a status line of its own). */
  onMessage?: (message: string) => void
}

/**
 * "Select all matching" (inside `BulkActions` when it has a filter): counts, in the database, the
 * runs of the filter each action applies to, confirms with those counts, then cancels or retries
 * them all in one request and one database transaction (`runs.cancelMatching` / `retryMatching`):
 * all of them or none (a kind the user may not retry refuses the whole action). At most
 * MAX_BULK_RUNS per action; the result line says what was actually changed, and when it stopped.
 */

export function MatchingActions({ filter: boardFilter, onMessage }: MatchingActionsProps) {
  const filter = toRunFilter(boardFilter)
  const ops = useOpsStore('BulkActions')
  const [counts, setCounts] = useState<Record<Action, { count: number; capped: boolean }> | null>(null)
  const [confirming, setConfirming] = useState<Action | null>(null)
  const [busy, setBusy] = useState(false)
  const [ownMessage, setOwnMessage] = useState('')
  const setMessage = onMessage ?? setOwnMessage
  const key = JSON.stringify(filter)
  // Another filter: the counts no longer hold.
  // biome-ignore lint/correctness/useExhaustiveDependencies: key stands for filter
  useEffect(() => {
    setCounts(null)
    setConfirming(null)
  }, [key])

  const selectAll = async () => {
    setBusy(true)
    setMessage('')
    try {
      const count = async (action: Action) => {
        const f = forAction(filter, action)
        return f ? ops.client.runs.count({ ...f, max: MAX_BULK_RUNS }) : { count: 0, capped: false }
      }
      const [cancel, retry] = await Promise.all([count('cancel'), count('retry')])
      setCounts({ cancel, retry })
    } catch (err) {
      setMessage(`Could not count: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      setBusy(false)
    }
  }

  const perform = async (action: Action) => {
    setConfirming(null)
    setBusy(true)
    try {
      const out =
        action === 'cancel'
          ? await ops.client.runs.cancelMatching({
              filter,
              reason: 'cancelled from the Runboard (all matching)',
            })
          : await ops.client.runs.retryMatching({ filter })
      ops.invalidate('runs')
      setMessage(
        `${action === 'cancel' ? 'Cancel requested for' : 'Retried'} ${runs(out.changed)} of ${runs(out.seen)} matching.${
          out.capped ? ` Stopped at ${runs(MAX_BULK_RUNS)}: run it again for the rest.` : ''
        }`,
      )
      setCounts(null)
    } catch (err) {
      // The server answers these before committing anything: the whole action was refused.
      const refused =
        isOpsError(err) && ['forbidden', 'validation', 'conflict', 'unauthorized'].includes(err.code)
      const why = err instanceof Error ? err.message : String(err)
      setMessage(refused ? `Refused, nothing was changed: ${why}` : `Failed: ${why}`)
    } finally {
      setBusy(false)
    }
  }

  const label = (c: { count: number; capped: boolean }) => `${c.capped ? 'the first ' : ''}${runs(c.count)}`
  return (
    <>
      {counts === null ? (
        <button type="button" className="ocr-button" disabled={busy} onClick={() => void selectAll()}>
          {busy ? 'Counting…' : 'Select all matching'}
        </button>
      ) : confirming ? (
        <div role="alertdialog" aria-label="Confirm" className="ocr-bulk__confirm">
          <span>
            {confirming === 'cancel' ? 'Cancel' : 'Retry'} {label(counts[confirming])} matching the filter?
          </span>
          <button
            type="button"
            className="ocr-button ocr-button--primary"
            // biome-ignore lint/a11y/noAutofocus: the confirmation takes focus so Enter confirms
            autoFocus
            onClick={() => void perform(confirming)}
          >
            Yes, {confirming} {label(counts[confirming])}
          </button>
          <button type="button" className="ocr-button" onClick={() => setConfirming(null)}>
            No
          </button>
        </div>
      ) : (
        <>
          <span
            className="ocr-bulk__count"
            data-matching-cancel={counts.cancel.count}
            data-matching-retry={counts.retry.count}
          >
            All matching: {runs(counts.cancel.count)}
            {counts.cancel.capped ? '+' : ''} to cancel, {runs(counts.retry.count)}
            {counts.retry.capped ? '+' : ''} to retry
          </span>
          <button
            type="button"
            className="ocr-button ocr-button--danger"
            disabled={busy || counts.cancel.count === 0}
            onClick={() => setConfirming('cancel')}
          >
            Cancel all matching
          </button>
          <button
            type="button"
            className="ocr-button"
            disabled={busy || counts.retry.count === 0}
            onClick={() => setConfirming('retry')}
          >
            Retry all matching
          </button>
          <button type="button" className="ocr-link" onClick={() => setCounts(null)}>
            Clear selection
          </button>
        </>
      )}
      {onMessage ? null : (
        <span role="status" className="ocr-bulk__result">
          {ownMessage}
        </span>
      )}
    </>
  )
}
