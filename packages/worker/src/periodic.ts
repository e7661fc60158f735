import { TimeoutError } from '@ops-control-room/core'
import { createWakeup } from './wakeup'

/** A task run every `intervalMs()` ms; the wait between runs is cut short by `trigger()` or `stop()`. */
export interface Periodic {
  /** Runs the task now (after the current run, if one is in flight). */
  trigger(): void
  /** Stops; resolves once the task is not running. */
  stop(): Promise<void>
  /** When a run last ended (or the task started): a loop that stops going round shows here. */
  lastRun(): number
}

/** Starts a periodic task. Runs never overlap; a failing run reports and the next one still comes. */
export function startPeriodic(options: {
  intervalMs(): number
  task(): Promise<void>
  onError(error: Error): void
  /** Run once at once instead of after the first interval. Default false. */
  immediate?: boolean
  /**
   * A run that takes longer is abandoned (reported as a TimeoutError) and the loop goes on: a call
   * hung on a dead connection must not stop heartbeats or sweeps for good. Default: no deadline.
   */
  deadlineMs?: () => number
}): Periodic {
  const wakeup = createWakeup()
  let stopped = false
  let last = Date.now()
  async function loop() {
    if (!options.immediate) await wakeup.wait(options.intervalMs())
    while (!stopped) {
      try {
        const deadline = options.deadlineMs?.()
        await (deadline === undefined ? options.task() : withDeadline(options.task(), deadline))
      } catch (err) {
        options.onError(err instanceof Error ? err : new Error(String(err)))
      }
      last = Date.now()
      if (stopped) break
      await wakeup.wait(options.intervalMs())
    }
  }
  const done = loop()
  return {
    trigger: () => wakeup.wake(),
    lastRun: () => last,
    async stop() {
      stopped = true
      wakeup.wake()
      await done
    },
  }
}

/** Resolves or rejects as `promise` does, or rejects with a TimeoutError after `ms` (the promise is left to finish on its own). */
export function withDeadline<T>(promise: Promise<T>, ms: number, what = 'the call'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`${what} took longer than ${ms} ms and was abandoned`)),
      ms,
    )
  })
  // An abandoned call may still fail later: that must not become an unhandled rejection.
  promise.catch(() => {})
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
