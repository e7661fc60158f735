import { LANES, type Lane } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler } from '../src/index'
import { setupDatabase, sleep, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('lanes', () => {
  it('runs 16 runs, 4 per lane, all succeed, lanes in parallel within each lane’s concurrency', async () => {
    const { client, sql } = ctx
    const running = new Map<Lane, number>(LANES.map((l) => [l, 0]))
    const peak = new Map<Lane, number>(LANES.map((l) => [l, 0]))
    let total = 0
    let peakTotal = 0
    const step = defineHandler({
      kind: 'step',
      input: z.object({ n: z.number().int() }),
      async run(c) {
        const lane = c.run.lane
        running.set(lane, (running.get(lane) ?? 0) + 1)
        total++
        peak.set(lane, Math.max(peak.get(lane) ?? 0, running.get(lane) ?? 0))
        peakTotal = Math.max(peakTotal, total)
        c.log.info(`step ${c.params.n} in lane ${lane}`)
        await sleep(300)
        running.set(lane, (running.get(lane) ?? 0) - 1)
        total--
        return { n: c.params.n }
      },
    })
    const concurrency = { A: 2, B: 2, C: 2, D: 2 }
    const worker = createWorker({ client, concurrency, handlers: [step], heartbeatIntervalMs: 1000 })
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'sixteen' })
      const runs = await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: 16 }, (_, n) => ({ kind: 'step', lane: LANES[n % 4], params: { n } })),
      })
      await waitFor('16 runs to succeed', async () => {
        const done = await client.runs.list({ sessionId: session.id, status: 'succeeded' })
        return done.length === 16
      })
      // Each lane reached its own limit and never passed it; lanes overlapped.
      for (const lane of LANES) expect(peak.get(lane)).toBe(concurrency[lane])
      expect(peakTotal).toBeGreaterThan(concurrency.A)
      for (const run of runs) {
        const stored = await client.runs.get(run.id)
        expect(stored.result).toEqual({ n: run.params.n })
        expect(stored.attempt).toBe(1)
      }
      // The handler's log line was written before the run was settled.
      const rows = await sql`
        select e.run_id, array_agg(e.type order by e.id) as types
        from ops.runs r cross join lateral ops.run_history(r.id) e
        where r.session_id = ${session.id} group by e.run_id`
      expect(rows).toHaveLength(16)
      for (const row of rows) {
        expect(row.types).toEqual(['run:enqueued', 'run:claimed', 'log', 'run:succeeded'])
      }
    } finally {
      await worker.stop()
    }
  })
})
