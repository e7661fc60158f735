import { createWakeup } from './wakeup'

/** A task run every `intervalMs()` ms; the wait between runs is cut short by `trigger()` or `stop()`. */
export interface Periodic {
  /** Runs the task now (after the current run, if one is in flight). */
  trigger(): void
  /** Stops; resolves once the task is not running. */
  stop(): Promise<void>
}

/** Starts a periodic task. Runs never overlap; a failing run reports and the next one still comes. */
export function startPeriodic(options: {
  intervalMs(): number
  task(): Promise<void>
  onError(error: Error): void
  /** Run once at once instead of after the first interval. Default false. */
  immediate?: boolean
}): Periodic {
  const wakeup = createWakeup()
  let stopped = false
  async function loop() {
    if (!options.immediate) await wakeup.wait(options.intervalMs())
    while (!stopped) {
      try {
        await options.task()
      } catch (err) {
        options.onError(err instanceof Error ? err : new Error(String(err)))
      }
      if (stopped) break
      await wakeup.wait(options.intervalMs())
    }
  }
  const done = loop()
  return {
    trigger: () => wakeup.wake(),
    async stop() {
      stopped = true
      wakeup.wake()
      await done
    },
  }
}
