'use client'
import type { Change, SessionStats } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { usePrefetch, useQueryStore } from './useQueryStore'

export interface UseSessionStatsOptions {
  /** One session's figures; every run's when omitted. */
  sessionId?: string
  /** The throughput and error-rate window in ms. Default 5 minutes. */
  windowMs?: number
  /** Split the window into this many buckets (for charts). Default 0. */
  buckets?: number
  /** Read again after run changes (default true); false: only every `pollMs`. */
  live?: boolean
  /** Re-read interval in ms. Default 5 s. */
  pollMs?: number
}

/**
 * Counts per lane and status, throughput and error rate, computed by the database
 * (`client.stats.session`), so they are true at any size. Read again after run changes of the
 * session (a burst costs one read; while changes keep coming, a few reads a second) and every 5 s
 * so the window slides.
 */
export function useSessionStats(options: UseSessionStatsOptions = {}): QueryResult<SessionStats> {
  const ops = useOpsStore('useSessionStats')
  const { sessionId, windowMs = 5 * 60_000, buckets = 0, live = true, pollMs = 5000 } = options
  const windowSeconds = Math.max(1, Math.round(windowMs / 1000))
  const store = useMemo(
    () =>
      ops.query<SessionStats>(['stats', sessionId, windowSeconds, buckets, live, pollMs], () => ({
        fetch: () => ops.client.stats.session({ sessionId, windowSeconds, buckets }),
        ...(live
          ? {
              isAffectedBy: (change: Change) =>
                change.type === 'queued' ||
                ((change.type === 'run' || change.type === 'runs') &&
                  (sessionId === undefined || change.sessionId === sessionId)),
            }
          : {}),
        // A read at most every ~250 ms while changes stream: counts stay within a second of the
        // database at a few hundred bytes a read.
        coalesceMs: 250,
        pollMs,
      })),
    [ops, sessionId, windowSeconds, buckets, live, pollMs],
  )
  usePrefetch(store)
  return useQueryStore(store)
}
