import type { HeartbeatInput, HeartbeatResult, HeldRun } from '@ops-control-room/core'
import { type Periodic, startPeriodic } from './periodic'

const MAX_IDS = 10_000

export interface HeartbeatsOptions {
  workerId: string
  intervalMs: number
  /**
   * The executions this worker runs now, each with its lease. Runs waiting to be settled are not
   * sent: their settlement is the next write to them, and keeping them out means a heartbeat and a
   * settlement never lock the same rows.
   */
  held(): HeldRun[]
  /** The worker's registration, sent with each beat (it upserts `ops.workers`). */
  info(): NonNullable<HeartbeatInput['info']>
  send(input: HeartbeatInput): Promise<HeartbeatResult>
  onResult(result: HeartbeatResult & { runs: number; rttMs: number }): void
  onError(error: Error): void
}

/**
 * Heartbeats: one round trip every interval for all in-flight runs together (chunked only past
 * 10,000 runs). It keeps their leases, registers the worker, and reports the runs to abort: those
 * whose cancel was requested (the fallback when a NOTIFY was missed) and those no longer ours.
 */
export function startHeartbeats(options: HeartbeatsOptions): Periodic {
  return startPeriodic({
    intervalMs: () => options.intervalMs,
    onError: options.onError,
    task: async () => {
      const ids = options.held().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      const started = performance.now()
      const result: HeartbeatResult = { cancel: [], lost: [] }
      let offset = 0
      do {
        const chunk = ids.slice(offset, offset + MAX_IDS)
        const r = await options.send({ workerId: options.workerId, runs: chunk, info: options.info() })
        result.cancel.push(...r.cancel)
        result.lost.push(...r.lost)
        offset += MAX_IDS
      } while (offset < ids.length)
      options.onResult({ ...result, runs: ids.length, rttMs: performance.now() - started })
    },
  })
}
