'use client'
import type { Lane, Run, RunStatus } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseRunsOptions {
  /** Only this session's runs; without it, the newest runs of all sessions. */
  sessionId?: string
  status?: RunStatus | RunStatus[]
  lane?: Lane
  kind?: string
  /** Default 500. */
  limit?: number
}

/**
 * Runs, newest first, kept live: any change to a run that matches the filter (status, progress,
 * a cancel request, a new run) reads the list again, coalesced across bursts.
 */
export function useRuns(options: UseRunsOptions = {}): QueryResult<Run[]> {
  const ops = useOpsStore('useRuns')
  const { sessionId, status, lane, kind, limit = 500 } = options
  const statusKey = Array.isArray(status) ? status.join(',') : status
  // biome-ignore lint/correctness/useExhaustiveDependencies: statusKey stands for status
  const store = useMemo(() => {
    const input = { sessionId, status, lane, kind, limit }
    return ops.query<Run[]>(['runs', 'list', sessionId, statusKey, lane, kind, limit], () => ({
      fetch: () => ops.client.runs.list(input),
      isAffectedBy: (change, data) =>
        // A `queued` wake-up also comes after a backend resumed its stream with changes missed
        // (the http backend's reset): re-reading then keeps the board from going stale.
        (change.type === 'queued' && (lane === undefined || change.lane === lane)) ||
        (change.type === 'runs' &&
          (sessionId === undefined || change.sessionId === sessionId) &&
          (lane === undefined || change.lanes.includes(lane))) ||
        (change.type === 'run' &&
          (sessionId === undefined || change.sessionId === sessionId) &&
          (lane === undefined || change.lane === lane) &&
          // A status filter: the run enters or leaves the list, or is in it.
          (status === undefined ||
            [status].flat().includes(change.status) ||
            (data ?? []).some((r) => r.id === change.id))),
    }))
  }, [ops, sessionId, statusKey, lane, kind, limit])
  return useQueryStore(store)
}
