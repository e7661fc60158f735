'use client'
import type { WorkerInfo } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseWorkersOptions {
  /** Re-read interval in ms (heartbeats send no notifications). Default: the provider's pollMs (5 s). */
  pollMs?: number
  /** Read only while true. Default true. */
  enabled?: boolean
}

/** Registered workers with their last heartbeat, re-read periodically and when a run is claimed. */
export function useWorkers(options: UseWorkersOptions = {}): QueryResult<WorkerInfo[]> {
  const ops = useOpsStore('useWorkers')
  const pollMs = options.pollMs ?? ops.options.pollMs
  const enabled = options.enabled ?? true
  const store = useMemo(
    () =>
      !enabled
        ? null
        : ops.query<WorkerInfo[]>(['workers', pollMs], () => ({
            fetch: () => ops.client.workers.list(),
            // A claim is the moment a new worker most likely appeared.
            isAffectedBy: (change, data) =>
              change.type === 'run' && change.status === 'running' && data?.length === 0,
            pollMs,
          })),
    [ops, pollMs, enabled],
  )
  return useQueryStore(store)
}
