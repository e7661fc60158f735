/**
 * An interruptible sleep: `wait(ms)` resolves after `ms` (with false) or as soon as `wake()` is
 * called (with true), whichever comes first. A `wake()` with nobody waiting is remembered, so a
 * wake-up that lands between two checks of a loop is never lost.
 */
export interface Wakeup {
  wait(ms: number): Promise<boolean>
  wake(): void
}

/** Creates an interruptible sleep for one waiter at a time. */

export function createWakeup(): Wakeup {
  let pending = false
  let resolveWaiter: (() => void) | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  return {
    wait(ms) {
      if (pending) {
        pending = false
        return Promise.resolve(true)
      }
      return new Promise<boolean>((resolve) => {
        const done = (woken: boolean) => {
          if (timer) clearTimeout(timer)
          timer = undefined
          resolveWaiter = undefined
          resolve(woken)
        }
        resolveWaiter = () => done(true)
        timer = setTimeout(() => done(false), ms)
      })
    },
    wake() {
      if (resolveWaiter) resolveWaiter()
      else pending = true
    },
  }
}
