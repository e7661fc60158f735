import type { Lane, Run } from '@ops-control-room/core'
import { describe, expect, it } from 'vitest'
import { startClaimLoop } from './claimLoop'

const run = (lane: Lane, n: number) => ({ id: `${lane}-${n}`, lane }) as Run
const tick = () => new Promise((r) => setTimeout(r, 10))

describe('startClaimLoop', () => {
  it('asks only for free slots, only in lanes that may have work, and sleeps when none do', async () => {
    const asked: Partial<Record<Lane, number>>[] = []
    const queue: Record<Lane, number> = { A: 3, B: 0, C: 0, D: 0 }
    let active = 0
    const loop = startClaimLoop({
      lanes: ['A', 'B'],
      freeSlots: (lane) => (lane === 'A' ? 2 - active : 1),
      claim: async (slots) => {
        asked.push(slots)
        const out: Run[] = []
        for (const [lane, n] of Object.entries(slots) as [Lane, number][]) {
          const take = Math.min(n, queue[lane])
          queue[lane] -= take
          for (let i = 0; i < take; i++) out.push(run(lane, i))
        }
        return out
      },
      onRuns: (runs) => {
        active += runs.filter((r) => r.lane === 'A').length
      },
      backpressured: () => false,
      pollIntervalMs: 60_000,
      onError: (e) => {
        throw e
      },
    })
    await tick()
    // Two slots in A, one in B; B came back empty and A full.
    expect(asked).toEqual([{ A: 2, B: 1 }])
    active = 0
    loop.wake()
    await tick()
    // A may still have work (its last claim came back full); B is not asked again until woken.
    expect(asked).toEqual([{ A: 2, B: 1 }, { A: 2 }])
    loop.wake()
    await tick()
    expect(asked).toHaveLength(2) // A came back short: both lanes asleep until a wake-up or the poll
    queue.B = 1
    loop.wakeLane('B')
    await tick()
    expect(asked[2]).toEqual({ B: 1 })
    await loop.stop()
  })

  it('does not lose a wake-up that arrives while a claim is in flight', async () => {
    const asked: Partial<Record<Lane, number>>[] = []
    let release!: () => void
    let first = true
    const loop = startClaimLoop({
      lanes: ['A'],
      freeSlots: () => 1,
      claim: async (slots) => {
        asked.push(slots)
        if (first) {
          first = false
          await new Promise<void>((r) => {
            release = r
          })
        }
        return []
      },
      onRuns: () => {},
      backpressured: () => false,
      pollIntervalMs: 60_000,
      onError: (e) => {
        throw e
      },
    })
    await tick()
    loop.wakeLane('A') // a NOTIFY lands mid-claim; the claim then comes back empty
    release()
    await tick()
    expect(asked).toEqual([{ A: 1 }, { A: 1 }])
    await loop.stop()
  })
  it('overlaps a second claim for what the first did not ask, only when it is big enough, never a third', async () => {
    const asked: Partial<Record<Lane, number>>[] = []
    const answers: ((runs: Run[]) => void)[] = []
    let free = 10
    const loop = startClaimLoop({
      lanes: ['A'],
      freeSlots: () => free,
      claim: (slots) => {
        asked.push(slots)
        return new Promise<Run[]>((r) => answers.push(r))
      },
      onRuns: (runs) => {
        free -= runs.length
      },
      backpressured: () => false,
      pollIntervalMs: 60_000,
      maxClaimsInFlight: 2,
      minExtraClaim: 4,
      onError: (e) => {
        throw e
      },
    })
    await tick()
    expect(asked).toEqual([{ A: 10 }])
    // Runs finished meanwhile: 3 more could be asked for, below the minimum for a second claim.
    free = 13
    loop.wake()
    await tick()
    expect(asked).toHaveLength(1)
    free = 16
    loop.wake()
    await tick()
    expect(asked).toEqual([{ A: 10 }, { A: 6 }])
    // Two in flight: no third, however much frees.
    free = 40
    loop.wake()
    await tick()
    expect(asked).toHaveLength(2)
    // The first answers in full: its 10 leave, and the next claim asks for the rest beyond the
    // 6 still in flight.
    answers[0]?.(Array.from({ length: 10 }, (_, i) => run('A', i)))
    await tick()
    expect(asked[2]).toEqual({ A: 40 - 10 - 6 })
    answers[1]?.([])
    answers[2]?.([])
    const stopped = loop.stop()
    await stopped
  })

  it('waits for every claim in flight when it stops', async () => {
    const answers: ((runs: Run[]) => void)[] = []
    let free = 8
    const loop = startClaimLoop({
      lanes: ['A'],
      freeSlots: () => free,
      claim: () => new Promise<Run[]>((r) => answers.push(r)),
      onRuns: () => {},
      backpressured: () => false,
      pollIntervalMs: 60_000,
      maxClaimsInFlight: 2,
      minExtraClaim: 1,
      onError: (e) => {
        throw e
      },
    })
    await tick()
    free = 16
    loop.wake()
    await tick()
    expect(answers).toHaveLength(2)
    let done = false
    const stopping = loop.stop().then(() => {
      done = true
    })
    await tick()
    answers[0]?.([])
    await tick()
    expect(done).toBe(false)
    answers[1]?.([])
    await stopping
    expect(done).toBe(true)
  })

  it('reports the slots each empty lane waits with, and 0 for a lane woken or found full', async () => {
    const reports: Partial<Record<Lane, number>>[] = []
    const queue: Record<Lane, number> = { A: 0, B: 5, C: 0, D: 0 }
    let free = 3
    let bFree = 2
    let aFree = 2
    const loop = startClaimLoop({
      lanes: ['A', 'B'],
      freeSlots: (lane) => (lane === 'A' ? aFree : bFree),
      waitSlots: (lane) => (lane === 'A' ? free : 7),
      onWaiting: (slots) => reports.push(slots),
      claim: async (slots) => {
        const out: Run[] = []
        for (const [lane, n] of Object.entries(slots) as [Lane, number][]) {
          const take = Math.min(n, queue[lane])
          queue[lane] -= take
          for (let i = 0; i < take; i++) out.push(run(lane, i))
        }
        return out
      },
      onRuns: (runs) => {
        bFree -= runs.filter((r) => r.lane === 'B').length
        aFree -= runs.filter((r) => r.lane === 'A').length
      },
      backpressured: () => false,
      pollIntervalMs: 60_000,
      onError: (e) => {
        throw e
      },
    })
    await tick()
    // A came back empty: it waits with its slots. B came back full: it may have more, it does not wait.
    expect(reports.at(-1)).toEqual({ A: 3, B: 0 })
    free = 1
    loop.wake()
    await tick()
    expect(reports.at(-1)).toEqual({ A: 1, B: 0 })
    // A NOTIFY for A: work is queued there, so A waits no more until a claim finds it empty again.
    queue.A = 2
    loop.wakeLane('A')
    await tick()
    expect(queue.A).toBe(0)
    expect(reports.at(-1)?.A).toBe(0) // A's claim came back full (2 of 2): it may have more
    await loop.stop()
  })
})
