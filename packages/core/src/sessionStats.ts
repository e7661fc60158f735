import { LANES, RUN_STATUSES } from './constants'
import type * as C from './contract'

/** What `ops.session_stats` answers: groups of `[lane, status, runs, finished in window, failed in window]`. */
export interface RawSessionStats {
  at: string
  windowSeconds: number
  buckets: number
  groups: [C.Lane, C.RunStatus, number, number, number][]
  series: [number, number, number][]
}

const zeroCounts = (): C.StatusCounts => ({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 })

/** Shapes the SQL function's compact answer into the contract's `SessionStats`. */
export function toSessionStats(raw: RawSessionStats, sessionId: string | null): C.SessionStats {
  const byStatus = zeroCounts()
  const lanes = Object.fromEntries(LANES.map((l) => [l, zeroCounts()])) as C.SessionStats['lanes']
  let total = 0
  let finishedInWindow = 0
  let failedInWindow = 0
  for (const [lane, status, n, finished, failed] of raw.groups) {
    if (!RUN_STATUSES.includes(status) || !LANES.includes(lane)) continue
    const count = Number(n)
    byStatus[status] += count
    lanes[lane][status] += count
    total += count
    finishedInWindow += Number(finished)
    failedInWindow += Number(failed)
  }
  const at = new Date(raw.at)
  const since = at.getTime() - raw.windowSeconds * 1000
  const width = raw.buckets > 0 ? (raw.windowSeconds * 1000) / raw.buckets : 0
  const byBucket = new Map(raw.series.map(([i, f, x]) => [Number(i), [Number(f), Number(x)] as const]))
  const series = Array.from({ length: raw.buckets }, (_, i) => ({
    start: new Date(since + i * width).toISOString(),
    finished: byBucket.get(i)?.[0] ?? 0,
    failed: byBucket.get(i)?.[1] ?? 0,
  }))
  return {
    sessionId,
    at: at.toISOString(),
    windowSeconds: raw.windowSeconds,
    total,
    byStatus,
    lanes,
    finishedInWindow,
    failedInWindow,
    throughputPerMinute: finishedInWindow / (raw.windowSeconds / 60),
    errorRate: finishedInWindow === 0 ? null : failedInWindow / finishedInWindow,
    series,
  }
}
