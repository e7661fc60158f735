'use client'
import type { Session } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseSessionsOptions {
  /** How many of the newest sessions. Default 50. */
  limit?: number
}

/**
 * The newest sessions, newest first. Live: a run change in a session not yet listed (a new
 * session's first runs) reads the list again; sessions created through `useCreateSession` appear at once.
 */
export function useSessions(options: UseSessionsOptions = {}): QueryResult<Session[]> {
  const ops = useOpsStore('useSessions')
  const limit = options.limit ?? 50
  const store = useMemo(
    () =>
      ops.query<Session[]>(['sessions', 'list', limit], () => ({
        fetch: () => ops.client.sessions.list({ limit }),
        isAffectedBy: (change, data) =>
          (change.type === 'run' || change.type === 'runs') &&
          !(data ?? []).some((s) => s.id === change.sessionId),
      })),
    [ops, limit],
  )
  return useQueryStore(store)
}
