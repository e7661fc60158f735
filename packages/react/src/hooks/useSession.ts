'use client'
import type { Session } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

/** One session by id (`undefined` id: disabled). Sessions do not change after creation. */
export function useSession(sessionId: string | undefined): QueryResult<Session> {
  const ops = useOpsStore('useSession')
  const store = useMemo(
    () =>
      sessionId
        ? ops.query<Session>(['sessions', 'get', sessionId], () => ({
            fetch: () => ops.client.sessions.get(sessionId),
          }))
        : null,
    [ops, sessionId],
  )
  return useQueryStore(store)
}
