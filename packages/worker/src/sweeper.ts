import type { Run } from '@ops-control-room/core'
import { type Periodic, startPeriodic } from './periodic'

export interface SweeperOptions {
  /** Base interval; each wait is drawn from ±25 % around it so a fleet's sweeps spread out. */
  intervalMs: number
  /** Runs `fn` under a fleet-wide lock, or returns undefined when another worker holds it. */
  withLock<T>(fn: () => Promise<T>): Promise<T | undefined>
  /** Recovers runs whose heartbeat is older than the timeout. */
  recover(): Promise<Run[]>
  onSweep(recovered: Run[]): void
  onError(error: Error): void
  /** A sweep that takes longer is abandoned and the next one still comes. */
  deadlineMs?: number
}

/**
 * The in-fleet stuck-run sweeper: every worker tries every few seconds (with jitter), an advisory
 * lock lets one sweep at a time, so no cron is needed. A dead worker's run is recovered at most
 * `timeout + interval × 1.25` after its last heartbeat.
 */
export function startSweeper(options: SweeperOptions): Periodic {
  return startPeriodic({
    intervalMs: () => options.intervalMs * (0.75 + Math.random() * 0.5),
    onError: options.onError,
    ...(options.deadlineMs ? { deadlineMs: () => options.deadlineMs as number } : {}),
    task: async () => {
      const recovered = await options.withLock(() => options.recover())
      if (recovered) options.onSweep(recovered)
    },
  })
}
