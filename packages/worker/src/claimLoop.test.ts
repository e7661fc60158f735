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
})
