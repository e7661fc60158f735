import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createWakeup } from './wakeup'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** The settled value of a promise so far, or 'pending'. */
async function state<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, Promise.resolve().then(() => 'pending' as const)])
}

describe('createWakeup', () => {
  it('sleeps for the given time, or until woken', async () => {
    const w = createWakeup()
    const slept = w.wait(100)
    await vi.advanceTimersByTimeAsync(99)
    expect(await state(slept)).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await slept).toBe(false)
    const woken = w.wait(100)
    await vi.advanceTimersByTimeAsync(10)
    w.wake()
    expect(await woken).toBe(true)
    w.close()
  })

  it('remembers a wake-up with nobody waiting', async () => {
    const w = createWakeup()
    w.wake()
    expect(await w.wait(1000)).toBe(true)
    expect(await state(w.wait(1000))).toBe('pending')
    w.close()
  })

  it('keeps each wait to its own length across the timer it reuses', async () => {
    const w = createWakeup()
    const first = w.wait(100)
    await vi.advanceTimersByTimeAsync(50)
    w.wake()
    expect(await first).toBe(true)
    // The timer armed for the first wait (t=100) still runs; this wait must last until t=150.
    const second = w.wait(100)
    await vi.advanceTimersByTimeAsync(60)
    expect(await state(second)).toBe('pending')
    await vi.advanceTimersByTimeAsync(39)
    expect(await state(second)).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await second).toBe(false)
    // A shorter wait than the armed timer's gets its own, earlier timer.
    const long = w.wait(1000)
    w.wake()
    await long
    const short = w.wait(10)
    await vi.advanceTimersByTimeAsync(10)
    expect(await short).toBe(false)
    w.close()
  })

  it('holds at most one timer, and none once closed', async () => {
    const w = createWakeup()
    for (let i = 0; i < 5; i++) {
      const p = w.wait(1000)
      w.wake()
      await p
    }
    expect(vi.getTimerCount()).toBe(1)
    w.close()
    expect(vi.getTimerCount()).toBe(0)
  })
})
