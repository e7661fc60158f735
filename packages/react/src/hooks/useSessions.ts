'use client'
import type { Session } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseSessionsOptions {
  /** How many of the newest sessions. Default 50. */
  limit?: number
  /** Only sessions whose name contains this text (case-insensitive). */
  search?: string
}

/**
 * The newest sessions, newest first. Live: a run change in a session not yet listed (a new
 * session's first runs) reads the list again; sessions created through `useCreateSession` appear at once.
 */
export function useSessions(options: UseSessionsOptions = {}): QueryResult<Session[]> {
  const ops = useOpsStore('useSessions')
  const limit = options.limit ?? 50
  const search = options.search?.trim() || undefined
  const store = useMemo(
    () =>
      ops.query<Session[]>(['sessions', 'list', limit, search], () => ({
        fetch: () => ops.client.sessions.list({ limit, ...(search ? { search } : {}) }),
        isAffectedBy: (change, data) =>
          // A search lists only some sessions: changes elsewhere would read it again and again.
          search === undefined &&
          (change.type === 'run' || change.type === 'runs') &&
          !(data ?? []).some((s) => s.id === change.sessionId),
      })),
    [ops, limit, search],
  )
  return useQueryStore(store)
}
