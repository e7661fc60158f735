import type { Lane, Run } from '@ops-control-room/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPrefetchBuffer, MIN_SAMPLES, type PrefetchBufferOptions } from './prefetchBuffer'

const run = (lane: Lane, n: number) => ({ id: `${lane}-${n}`, lane, lease: `${lane}${n}` }) as Run

function buffer(overrides: Partial<PrefetchBufferOptions> = {}) {
  const expired: Run[] = []
  const b = createPrefetchBuffer({
    limits: new Map<Lane, number>([
      ['A', 10],
      ['B', 0],
    ]),
    sizes: new Map<Lane, number>([
      ['A', 40],
      ['B', 40],
    ]),
    ttlMs: 60_000,
    when: 'short-handlers',
    onExpired: (runs) => expired.push(...runs),
    ...overrides,
  })
  return { b, expired }
}

describe('createPrefetchBuffer', () => {
  // TTLs run on a fake clock: no test waits for real time.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('gives room only to a saturated lane with enough short handler samples', () => {
    const { b } = buffer()
    // Nothing known yet: no room.
    expect(b.room('A')).toBe(0)
    for (let i = 0; i < MIN_SAMPLES; i++) b.handlerFinished('A', 0.1)
    expect(b.room('A')).toBe(0) // not saturated: no claim came back full yet
    b.claimAnswered(
      2,
      { A: 10 },
      Array.from({ length: 10 }, (_, i) => run('A', i)),
    )
    expect(b.room('A')).toBe(40) // 0.1 ms handlers, 2 ms claims: capped only by the size
    b.claimAnswered(2, { A: 50 }, [run('A', 1)])
    expect(b.room('A')).toBe(0) // came back short: the queue is empty, stop claiming ahead
    b.close()
  })

  it('caps the room so a buffered run is expected to start within one claim round trip', () => {
    const { b } = buffer()
    b.claimAnswered(
      4,
      { A: 10 },
      Array.from({ length: 10 }, (_, i) => run('A', i)),
    )
    for (let i = 0; i < 9; i++) b.handlerFinished('A', 1)
    // Median 1 ms per handler, 10 slots, 4 ms claims: 40 runs drain in about one round trip.
    expect(b.room('A')).toBe(40)
    for (let i = 0; i < 32; i++) b.handlerFinished('A', 2)
    expect(b.room('A')).toBe(20)
    for (let i = 0; i < 32; i++) b.handlerFinished('A', 1000)
    expect(b.room('A')).toBe(0) // slow handlers: never claim ahead
    b.push(run('A', 1))
    expect(b.count('A')).toBe(1)
    b.close()
  })

  it("'saturated' ignores handler times; a lane without slots never claims ahead", () => {
    const { b } = buffer({ when: 'saturated' })
    b.claimAnswered(4, { A: 10, B: 1 }, [...Array.from({ length: 10 }, (_, i) => run('A', i)), run('B', 0)])
    expect(b.room('A')).toBe(40)
    expect(b.room('B')).toBe(0)
    b.push(run('A', 100))
    expect(b.room('A')).toBe(39)
    b.close()
  })

  it('keeps FIFO order, takes by lease, and hands back runs past their TTL', () => {
    const { b, expired } = buffer({ ttlMs: 20 })
    b.push(run('A', 1))
    b.push(run('A', 2))
    b.push(run('A', 3))
    expect(b.take('A2')?.id).toBe('A-2')
    expect(b.shift('A')?.id).toBe('A-1')
    expect(b.count()).toBe(1)
    vi.advanceTimersByTime(10)
    b.push(run('A', 4))
    vi.advanceTimersByTime(10)
    expect(expired.map((r) => r.id)).toEqual(['A-3'])
    expect(b.count()).toBe(1)
    vi.advanceTimersByTime(10)
    expect(expired.map((r) => r.id)).toEqual(['A-3', 'A-4'])
    expect(b.count()).toBe(0)
    b.close()
  })

  it('an expiry ends saturation, so the lane does not claim the runs straight back', () => {
    const { b, expired } = buffer({ ttlMs: 10, when: 'saturated' })
    b.claimAnswered(
      1,
      { A: 10 },
      Array.from({ length: 10 }, (_, i) => run('A', i)),
    )
    b.push(run('A', 11))
    expect(b.room('A')).toBe(39)
    vi.advanceTimersByTime(9)
    expect(expired).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(expired).toHaveLength(1)
    expect(b.room('A')).toBe(0)
    b.close()
  })
  it('knows the lease of each buffered run by id, until it leaves by shift, take, expiry or clear', () => {
    const { b, expired } = buffer({ ttlMs: 1000 })
    b.push(run('A', 1))
    b.push(run('A', 2))
    b.push(run('B', 3))
    expect([b.leaseOf('A-1'), b.leaseOf('A-2'), b.leaseOf('B-3'), b.leaseOf('A-9')]).toEqual([
      'A1',
      'A2',
      'B3',
      undefined,
    ])
    b.shift('A')
    expect(b.leaseOf('A-1')).toBeUndefined()
    b.take('B3')
    expect(b.leaseOf('B-3')).toBeUndefined()
    // The same run claimed again under a new lease: the entry follows the newer one.
    b.push({ ...run('A', 2), lease: 'A2-again' } as Run)
    expect(b.leaseOf('A-2')).toBe('A2-again')
    vi.advanceTimersByTime(1000)
    expect(expired.map((r) => r.lease)).toEqual(['A2', 'A2-again'])
    expect(b.leaseOf('A-2')).toBeUndefined()
    b.push(run('A', 4))
    b.clear()
    expect(b.leaseOf('A-4')).toBeUndefined()
    b.close()
  })
})
