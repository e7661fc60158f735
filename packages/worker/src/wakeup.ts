/**
 * An interruptible sleep: `wait(ms)` resolves after `ms` (with false) or as soon as `wake()` is
 * called (with true), whichever comes first. A `wake()` with nobody waiting is remembered, so a
 * wake-up that lands between two checks of a loop is never lost.
 */
export interface Wakeup {
  wait(ms: number): Promise<boolean>
  wake(): void
  /** Drops the timer (the owner's loop has ended), so it holds the process no longer. */
  close(): void
}

/**
 * Creates an interruptible sleep for one waiter at a time.
 *
 * A wake-up only resolves the waiter: it leaves the timer armed, and the next `wait` reuses it (it
 * fires no later than that wait's end and re-arms itself for the rest). An idle worker's pickup is a
 * wake-up of its claim loop, and clearing and setting a timer there cost tens of microseconds of the
 * pickup's critical path (cold timer-list code); now a timer is set about once per `ms`.
 */
export function createWakeup(): Wakeup {
  let pending = false
  let waiter: { resolve: (woken: boolean) => void; at: number } | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerAt = 0

  const arm = (at: number) => {
    timerAt = at
    timer = setTimeout(fired, Math.max(0, at - performance.now()))
  }
  function fired() {
    timer = undefined
    if (!waiter) return
    if (performance.now() >= waiter.at) {
      const { resolve } = waiter
      waiter = undefined
      resolve(false)
    } else arm(waiter.at)
  }

  return {
    wait(ms) {
      if (pending) {
        pending = false
        return Promise.resolve(true)
      }
      return new Promise<boolean>((resolve) => {
        const at = performance.now() + ms
        waiter = { resolve, at }
        if (timer === undefined || timerAt > at) {
          if (timer !== undefined) clearTimeout(timer)
          arm(at)
        }
      })
    },
    wake() {
      if (!waiter) {
        pending = true
        return
      }
      const { resolve } = waiter
      waiter = undefined
      resolve(true)
    },
    close() {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    },
  }
}
