'use client'
import type { Run } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

/** One run by id, kept live (`undefined` id: disabled). */
export function useRun(runId: string | undefined): QueryResult<Run> {
  const ops = useOpsStore('useRun')
  const store = useMemo(
    () =>
      runId
        ? ops.query<Run>(['runs', 'get', runId], () => ({
            fetch: () => ops.client.runs.get(runId),
            isAffectedBy: (change, data) =>
              (change.type === 'run' && change.id === runId) ||
              (change.type === 'runs' &&
                (data === undefined || change.sessionId === data.sessionId) &&
                (change.ids === null || change.ids.includes(runId))),
          }))
        : null,
    [ops, runId],
  )
  return useQueryStore(store)
}
