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
      wakeup.close()
    },
  }
}

interface Deadline {
  at: number
  expire(): void
}

// Calls waiting on a deadline, and one timer for all of them, armed for the earliest. A call that
// settles only leaves the set: the timer stays armed and, when it fires, re-arms itself for the next
// deadline still pending, if any. Setting and clearing a timer per call cost tens of microseconds on
// an idle worker's pickup (the claim's deadline was set before its query went out); now a timer is
// set about once per deadline's length. The timer holds the process open only while a call waits
// (as each call's own timer did), never once they have all settled.
const deadlines = new Set<Deadline>()
let deadlineTimer: ReturnType<typeof setTimeout> | undefined
let deadlineTimerAt = Number.POSITIVE_INFINITY

function armDeadlines(at: number) {
  if (deadlineTimer !== undefined) clearTimeout(deadlineTimer)
  deadlineTimerAt = at
  deadlineTimer = setTimeout(expireDeadlines, Math.max(0, at - performance.now()))
}

function settled(deadline: Deadline) {
  deadlines.delete(deadline)
  if (deadlines.size === 0) deadlineTimer?.unref?.()
}

function expireDeadlines() {
  deadlineTimer = undefined
  deadlineTimerAt = Number.POSITIVE_INFINITY
  const now = performance.now()
  let next = Number.POSITIVE_INFINITY
  for (const d of deadlines) {
    if (d.at <= now) {
      deadlines.delete(d)
      d.expire()
    } else if (d.at < next) next = d.at
  }
  if (next !== Number.POSITIVE_INFINITY) armDeadlines(next)
}

/** Resolves or rejects as `promise` does, or rejects with a TimeoutError after `ms` (the promise is left to finish on its own). */
export function withDeadline<T>(promise: Promise<T>, ms: number, what = 'the call'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const deadline: Deadline = {
      at: performance.now() + ms,
      expire: () => reject(new TimeoutError(`${what} took longer than ${ms} ms and was abandoned`)),
    }
    deadlines.add(deadline)
    if (deadline.at < deadlineTimerAt) armDeadlines(deadline.at)
    else if (deadlines.size === 1) deadlineTimer?.ref?.()
    // Settling after the deadline changes nothing; a late failure is handled here, never unhandled.
    promise.then(
      (value) => {
        settled(deadline)
        resolve(value)
      },
      (err) => {
        settled(deadline)
        reject(err)
      },
    )
  })
}
