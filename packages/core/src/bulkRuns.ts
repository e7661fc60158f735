import type { Backend } from './backend'
import type { ClientChecks } from './client'
import { LANES, MAX_BULK_RUNS } from './constants'
import type * as C from './contract'
import { ValidationError } from './errors'

/** What a bulk action over a filter did. */
export interface BulkRunsResult {
  /** Matching runs the action was applied to (those in a status it applies to). */
  seen: number
  /** Runs it changed (a run finished meanwhile is seen, not changed). */
  changed: number
  /** It stopped at `max` (more may match): run it again for the rest. */
  capped: boolean
}

export type BulkAction = { action: 'cancel'; reason?: string } | { action: 'retry' }

const BATCH = 500

/**
 * Applies cancel or retry to every run matching a filter, not only loaded ones: pages through the
 * matches newest first by `seq` (a keyset: runs changed by a batch are not met again) and sends
 * each page of ids to the same operation a single cancel or retry uses, so roles, RLS and kind
 * policies apply to every run. Bounded: batches of 500, at most `max` (≤ MAX_BULK_RUNS) runs.
 * Not one transaction: a failure part-way leaves the batches before it done (the error says so).
 */
export async function applyToMatchingRuns(
  backend: Backend,
  what: BulkAction,
  input: { filter: C.RunFilter; max?: number },
  check: Pick<ClientChecks, 'input'>,
): Promise<BulkRunsResult> {
  const filter = check.input('RunFilterInput', input.filter, 'run filter')
  const max = input.max ?? MAX_BULK_RUNS
  if (!Number.isInteger(max) || max < 1 || max > MAX_BULK_RUNS)
    throw new ValidationError(`max must be a whole number from 1 to ${MAX_BULK_RUNS}`, {
      details: { issues: [{ path: 'max', message: `1 to ${MAX_BULK_RUNS}` }] },
    })
  const applies: readonly C.RunStatus[] =
    what.action === 'cancel' ? ['queued', 'running'] : ['failed', 'cancelled']
  const asked =
    filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status]
  const statuses = applies.filter((s) => asked === undefined || asked.includes(s))
  const result: BulkRunsResult = { seen: 0, changed: 0, capped: false }
  if (statuses.length === 0) return result
  const { lanes, status: _status, ...rest } = filter
  const scopes = lanes === undefined || lanes.length === LANES.length ? [undefined] : lanes
  for (const lane of scopes) {
    let beforeSeq: number | undefined
    for (;;) {
      const room = max - result.seen
      if (room <= 0) {
        result.capped = true
        return result
      }
      const page = await backend.listRuns(
        check.input(
          'ListRunsInput',
          {
            ...rest,
            status: statuses,
            limit: Math.min(BATCH, room),
            ...(lane ? { lane } : {}),
            ...(beforeSeq === undefined ? {} : { beforeSeq }),
          },
          'run filter',
        ),
      )
      if (page.length === 0) break
      const ids = page.map((r) => r.id)
      result.seen += ids.length
      if (what.action === 'cancel') {
        const out = await backend.cancelRuns({ ids, reason: what.reason })
        result.changed += out.filter((r) => r.status === 'cancelled' || r.cancelRequestedAt !== null).length
      } else {
        const out = await backend.retryRuns({ ids })
        result.changed += out.filter((r) => r.status === 'queued').length
      }
      beforeSeq = Math.min(...page.map((r) => r.seq))
      if (page.length < Math.min(BATCH, room)) break
    }
  }
  return result
}
