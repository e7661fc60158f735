'use client'
import type { Artifact } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

/**
 * A run's artifacts, kept live: creating artifacts writes a run event, so a notification of new
 * events for this run (or a change of the run) reads the list again.
 */
export function useArtifacts(runId: string | undefined): QueryResult<Artifact[]> {
  const ops = useOpsStore('useArtifacts')
  const store = useMemo(
    () =>
      runId
        ? ops.query<Artifact[]>(['artifacts', runId], () => ({
            fetch: () => ops.client.artifacts.list({ runId }),
            isAffectedBy: (change) =>
              (change.type === 'events' && (change.truncated === true || change.runIds.includes(runId))) ||
              (change.type === 'run' && change.id === runId) ||
              (change.type === 'runs' && (change.ids === null || change.ids.includes(runId))),
          }))
        : null,
    [ops, runId],
  )
  return useQueryStore(store)
}
