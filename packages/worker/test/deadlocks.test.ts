import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler, type Worker } from '../src/index'
import { setupDatabase, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('no deadlocks in normal operation', () => {
  it('drains 20,000 runs with 4 workers (heartbeats, logs, progress, cancels racing) and PostgreSQL counts 0 deadlocks', async () => {
    const { sql } = ctx
    const handler = defineHandler({
      kind: 'drain',
      input: z.object({ n: z.number().int() }),
      async run(c) {
        if (c.params.n % 7 === 0) c.log.info('a line')
        if (c.params.n % 5 === 0) c.progress(0.5)
        if (c.params.n % 11 === 0) await new Promise((r) => setTimeout(r, 5))
        return null
      },
    })
    const [{ before }] = (await sql`
      select deadlocks::int as before from pg_stat_database where datname = current_database()`) as unknown as [
      { before: number },
    ]
    const workers: Worker[] = []
    for (let i = 0; i < 4; i++) {
      workers.push(
        createWorker({
          client: ctx.newClient(),
          handlers: [handler],
          concurrency: 25,
          // Heartbeats every 100 ms: they overlap the settlements of the same worker all the time.
          heartbeatIntervalMs: 100,
          pollIntervalMs: 200,
          sweepIntervalMs: 200,
        }),
      )
    }
    // Counted twice: by PostgreSQL, and by what the workers were told (a deadlock is an error to them).
    const deadlockErrors: string[] = []
    for (const w of workers)
      w.on('error', (e) => /deadlock/i.test(e.message) && deadlockErrors.push(e.message))
    await Promise.all(workers.map((w) => w.start()))
    try {
      const session = await ctx.client.sessions.create({ name: 'deadlocks' })
      const total = 20_000
      for (let i = 0; i < total; i += 5000) {
        await ctx.client.runs.enqueue({
          sessionId: session.id,
          runs: Array.from({ length: 5000 }, (_, k) => ({
            kind: 'drain',
            lane: 'ABCD'[(i + k) % 4] as 'A',
            params: { n: i + k },
          })),
        })
      }
      // Cancels racing claims, heartbeats and settlements, in batches of many rows.
      const cancelled = (async () => {
        for (let round = 0; round < 20; round++) {
          const ids =
            await sql`select id from ops.runs where session_id = ${session.id} and status in ('queued', 'running') order by random() limit 50`
          if (ids.length === 0) break
          await ctx.client.runs.cancelMany({ ids: ids.map((r) => String(r.id)) })
          await new Promise((r) => setTimeout(r, 50))
        }
      })()
      await cancelled
      await waitFor(
        'every run to finish',
        async () => {
          const [row] =
            await sql`select count(*)::int as open from ops.runs where session_id = ${session.id} and status in ('queued', 'running')`
          return row?.open === 0
        },
        180_000,
        250,
      )
      const [{ after }] = (await sql`
        select deadlocks::int as after from pg_stat_database where datname = current_database()`) as unknown as [
        { after: number },
      ]
      expect(after - before).toBe(0)
      expect(deadlockErrors).toEqual([])
      const [{ failed }] =
        (await sql`select count(*)::int as failed from ops.runs where session_id = ${session.id} and status = 'failed'`) as unknown as [
          { failed: number },
        ]
      expect(failed).toBe(0)
    } finally {
      await Promise.all(workers.map((w) => w.stop()))
    }
  }, 240_000)
})
