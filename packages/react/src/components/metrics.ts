import type { Run, WorkerInfo } from '@ops-control-room/core'

/** Figures the MetricsPanel shows, computed from runs and workers the hooks already hold. */
export interface RunMetrics {
  /** Runs finished in the window, per minute. */
  throughputPerMinute: number
  /** Failed share of runs finished in the window (0..1), or null when none finished. */
  errorRate: number | null
  inFlight: number
  queued: number
  workersAlive: number
  /** The latest recovery of a run from a silent worker, if any run in view was recovered. */
  lastRecovery: { runId: string; workerId: string | null; at: string } | null
}

/** A worker counts as alive when it has not stopped and was seen within `aliveMs`. */
export function computeMetrics(
  runs: readonly Run[],
  workers: readonly WorkerInfo[],
  now: number,
  options: { windowMs?: number; aliveMs?: number } = {},
): RunMetrics {
  const windowMs = options.windowMs ?? 5 * 60_000
  const aliveMs = options.aliveMs ?? 30_000
  let finished = 0
  let failed = 0
  let inFlight = 0
  let queued = 0
  let lastRecovery: RunMetrics['lastRecovery'] = null
  for (const r of runs) {
    if (r.status === 'running') inFlight++
    if (r.status === 'queued') queued++
    if (r.finishedAt && now - Date.parse(r.finishedAt) <= windowMs) {
      finished++
      if (r.status === 'failed') failed++
    }
    if (r.error?.type === 'heartbeat_timeout') {
      // recover_stuck_runs records the silent worker and its last heartbeat; the recovery itself
      // happened when the lease (heartbeat + timeout) had run out, which is what we show.
      const ctx = (r.error.context ?? {}) as {
        heartbeat_at?: string
        timeout_seconds?: number
        worker_id?: string
      }
      const at = ctx.heartbeat_at
        ? new Date(Date.parse(ctx.heartbeat_at) + (ctx.timeout_seconds ?? 0) * 1000).toISOString()
        : r.updatedAt
      if (!lastRecovery || at > lastRecovery.at)
        lastRecovery = { runId: r.id, workerId: ctx.worker_id ?? null, at }
    }
  }
  const workersAlive = workers.filter(
    (w) => w.stoppedAt === null && now - Date.parse(w.lastSeenAt) <= aliveMs,
  ).length
  return {
    throughputPerMinute: finished / (windowMs / 60_000),
    errorRate: finished === 0 ? null : failed / finished,
    inFlight,
    queued,
    workersAlive,
    lastRecovery,
  }
}
