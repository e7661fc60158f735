'use client'
import type { LaneHistory } from '@ops-control-room/core/client'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseLaneHistoryOptions {
  /** One session's history; every run's when omitted. */
  sessionId?: string
  /** How far back, in seconds (60 to 86,400). Default 900. */
  windowSeconds?: number
  /** Buckets the window is split into (1 to 240). Default 60. */
  buckets?: number
  /** false: do not read (yet). Default true. */
  enabled?: boolean
}

/**
 * Queued runs per lane at the end of each bucket, and runs finished/failed per bucket, over the last
 * window, rebuilt by the database from the runs' timestamps (`client.stats.laneHistory`). Read once
 * per mount and arguments: a chart draws it on open and extends it with the live counts it already
 * reads (`useSessionStats`), so it is not read again on changes.
 */
export function useLaneHistory(options: UseLaneHistoryOptions = {}): QueryResult<LaneHistory> {
  const ops = useOpsStore('useLaneHistory')
  const { sessionId, windowSeconds = 900, buckets = 60, enabled = true } = options
  const store = useMemo(
    () =>
      enabled
        ? ops.query<LaneHistory>(['laneHistory', sessionId, windowSeconds, buckets], () => ({
            fetch: () => ops.client.stats.laneHistory({ sessionId, windowSeconds, buckets }),
          }))
        : null,
    [ops, sessionId, windowSeconds, buckets, enabled],
  )
  return useQueryStore(store)
}
