'use client'
import type { EventLevel, RunEvent } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseRunEventsOptions {
  /** Only these levels (filtered by the backend). Default: all. */
  levels?: EventLevel[]
  /** Keep at most this many of the newest events in memory. Default 5,000. */
  max?: number
}

/**
 * A run's event log as a live tail, oldest first: the first read takes the log so far, and each
 * notification of new events for this run reads only the events after the last one held.
 */
export function useRunEvents(
  runId: string | undefined,
  options: UseRunEventsOptions = {},
): QueryResult<RunEvent[]> {
  const ops = useOpsStore('useRunEvents')
  const levelsKey = options.levels?.slice().sort().join(',')
  const max = options.max ?? 5000
  const store = useMemo(() => {
    if (!runId) return null
    const levels = levelsKey ? (levelsKey.split(',') as EventLevel[]) : undefined
    return ops.query<RunEvent[]>(['events', runId, levelsKey, max], () => ({
      async fetch(previous) {
        const last = previous?.at(-1)?.id
        const page = await ops.client.events.list({
          runId,
          levels,
          limit: Math.min(max, 10_000),
          ...(last === undefined ? {} : { afterId: last }),
        })
        if (!previous || last === undefined) return page
        if (page.length === 0) return previous
        const next = previous.concat(page)
        return next.length > max ? next.slice(next.length - max) : next
      },
      isAffectedBy: (change) =>
        change.type === 'events' && (change.truncated === true || change.runIds.includes(runId)),
    }))
  }, [ops, runId, levelsKey, max])
  return useQueryStore(store)
}
