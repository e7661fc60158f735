'use client'
import { useEffect, useState } from 'react'
import { useCancelRuns } from '../hooks/useCancelRuns'
import { useRetryRuns } from '../hooks/useRetryRuns'
import type { RunListFilter } from '../store/runListStore'
import { MatchingActions } from './MatchingActions'

export interface BulkActionsProps {
  /** The selected run ids. */
  selection: ReadonlySet<string>
  /** Called with an empty set after an action, or when the user clears the selection. */
  onSelectionChange(selection: Set<string>): void
  /**
   * The board's filter, with its `sessionId`: adds "Select all matching", which counts the matches in
   * the database and applies cancel or retry to every one of them (`runs.cancelMatching` /
   * `retryMatching`, at most MAX_BULK_RUNS at a time), not only to the loaded cards.
   */
  filter?: RunListFilter
}

type Action = 'cancel' | 'retry'

/**
 * Cancel or retry the selected runs, after a confirmation that says how many. Runs an action does
 * not apply to (cancelling a finished run, retrying a running one) come back unchanged; the result
 * line says how many changed.
 */
export function BulkActions({ selection, onSelectionChange, filter }: BulkActionsProps) {
  const cancel = useCancelRuns()
  const retry = useRetryRuns()
  const [confirming, setConfirming] = useState<Action | null>(null)
  const [result, setResult] = useState('')
  const n = selection.size
  const runs = (k: number) => `${k.toLocaleString('en')} run${k === 1 ? '' : 's'}`
  const error = cancel.error ?? retry.error
  // Another session or filter: the last result was about other runs.
  const filterKey = JSON.stringify(filter ?? null)
  // biome-ignore lint/correctness/useExhaustiveDependencies: filterKey stands for filter
  useEffect(() => setResult(''), [filterKey])
  const perform = async (action: Action) => {
    const ids = [...selection]
    setConfirming(null)
    try {
      if (action === 'cancel') {
        const out = await cancel.mutate(ids, 'cancelled from the Runboard (bulk)')
        const changed = out.filter((r) => r.status === 'cancelled' || r.cancelRequestedAt !== null).length
        setResult(`Cancel requested for ${runs(changed)} of ${runs(ids.length)}.`)
      } else {
        const out = await retry.mutate(ids)
        const changed = out.filter((r) => r.status === 'queued').length
        setResult(`Retried ${runs(changed)} of ${runs(ids.length)}.`)
      }
      onSelectionChange(new Set())
    } catch {
      // shown from the hook's error below
    }
  }
  if (n === 0 && !result && !error && !filter) return null
  return (
    <div className="ocr-bulk" role="toolbar" aria-label="Bulk actions">
      {filter && n === 0 ? <MatchingActions filter={filter} onMessage={setResult} /> : null}
      {n > 0 ? <span className="ocr-bulk__count">{runs(n)} selected</span> : null}
      {confirming ? (
        <div role="alertdialog" aria-label="Confirm" className="ocr-bulk__confirm">
          <span>
            {confirming === 'cancel' ? 'Cancel' : 'Retry'} {runs(n)}?
          </span>
          <button
            type="button"
            className="ocr-button ocr-button--primary"
            // biome-ignore lint/a11y/noAutofocus: the confirmation takes focus so Enter confirms
            autoFocus
            onClick={() => void perform(confirming)}
          >
            Yes, {confirming} {runs(n)}
          </button>
          <button type="button" className="ocr-button" onClick={() => setConfirming(null)}>
            No
          </button>
        </div>
      ) : n > 0 ? (
        <>
          <button
            type="button"
            className="ocr-button ocr-button--danger"
            onClick={() => setConfirming('cancel')}
          >
            Cancel selected
          </button>
          <button type="button" className="ocr-button" onClick={() => setConfirming('retry')}>
            Retry selected
          </button>
          <button type="button" className="ocr-link" onClick={() => onSelectionChange(new Set())}>
            Clear selection
          </button>
        </>
      ) : null}
      <span role="status" className="ocr-bulk__result">
        {error ? `Failed: ${error.message}` : result}
      </span>
    </div>
  )
}
