import { TimeoutError } from '@ops-control-room/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { withDeadline } from './periodic'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})
afterEach(() => {
  vi.useRealTimers()
})

const never = () => new Promise<never>(() => {})

describe('withDeadline', () => {
  it('answers as the call does when it settles in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 100)).resolves.toBe(7)
    await expect(withDeadline(Promise.reject(new Error('no')), 100)).rejects.toThrow('no')
  })

  it('abandons each call at its own deadline, one timer serving them all', async () => {
    const settled: string[] = []
    const watch = (name: string, p: Promise<unknown>) =>
      p.then(
        () => settled.push(`${name} ok`),
        (e) => settled.push(`${name} ${e instanceof TimeoutError ? 'timeout' : 'error'}`),
      )
    let finish!: (v: number) => void
    const a = watch('a', withDeadline(never(), 100, 'a'))
    const b = watch('b', withDeadline(never(), 50, 'b'))
    const c = watch(
      'c',
      withDeadline(
        new Promise<number>((r) => {
          finish = r
        }),
        30,
      ),
    )
    expect(vi.getTimerCount()).toBe(1)
    finish(1)
    await vi.advanceTimersByTimeAsync(49)
    expect(settled).toEqual(['c ok'])
    await vi.advanceTimersByTimeAsync(1)
    expect(settled).toEqual(['c ok', 'b timeout'])
    await vi.advanceTimersByTimeAsync(50)
    await Promise.all([a, b, c])
    expect(settled).toEqual(['c ok', 'b timeout', 'a timeout'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('names the call in the timeout, and a late failure stays handled', async () => {
    let fail!: (e: Error) => void
    const late = new Promise<never>((_, reject) => {
      fail = reject
    })
    const p = withDeadline(late, 20, 'the claim')
    const check = expect(p).rejects.toThrow('the claim took longer than 20 ms and was abandoned')
    await vi.advanceTimersByTimeAsync(20)
    await check
    fail(new Error('connection lost'))
    await vi.advanceTimersByTimeAsync(1)
  })
})
