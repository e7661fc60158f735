import { createOpsClient, type OpsClient, UnavailableError } from '@ops-control-room/core'
import { migrate, postgresBackend } from '@ops-control-room/core/postgres'
import {
  type RunningPostgres,
  restartPostgres,
  startEmbeddedPostgres,
  stopRestartedPostgres,
} from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler } from '../src/index'
import { waitFor } from './helpers'

// A PostgreSQL of this file's own: it is restarted under a running worker, which the shared test
// cluster of the other files must not see.
let pg: RunningPostgres
let sql: postgres.Sql
beforeAll(async () => {
  pg = await startEmbeddedPostgres()
  await migrate({ databaseUrl: pg.url })
  sql = postgres(pg.url, { max: 2, onnotice: () => {} })
}, 120_000)
let restarted = false
afterAll(async () => {
  await sql?.end({ timeout: 1 })
  if (restarted) await stopRestartedPostgres(pg)
  else await pg?.stop()
})

async function counts(sessionId: string) {
  const rows =
    await sql`select status, count(*)::int as n from ops.runs where session_id = ${sessionId} group by status`
  return Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]))
}

describe('a worker that survives its database', () => {
  it('rides out `pg_ctl restart -m immediate`: claims again by NOTIFY, runs nothing twice, stops in time', async () => {
    const executions = new Map<string, number>()
    const handler = defineHandler({
      kind: 'outage',
      input: z.object({}),
      async run(c) {
        executions.set(c.run.id, (executions.get(c.run.id) ?? 0) + 1)
        // Long enough that the drain (400 runs, 8 at a time: about 1.3 s) is still under way at the
        // restart, whatever the machine's speed: the outage must hit calls in flight.
        await new Promise((r) => setTimeout(r, 25))
        return null
      },
    })
    const client: OpsClient = createOpsClient({ backend: postgresBackend({ databaseUrl: pg.url }) })
    const errors: string[] = []
    const worker = createWorker({
      client,
      handlers: [handler],
      concurrency: 8,
      // Polling a minute apart: after the restart, only a re-established LISTEN explains a pickup.
      pollIntervalMs: 60_000,
      heartbeatIntervalMs: 500,
      heartbeatTimeoutSeconds: 20,
      sweepIntervalMs: 1000,
      callTimeoutMs: 3000,
      shutdownTimeoutMs: 5000,
    })
    worker.on('error', (e) => errors.push(e.message))
    const crashes: unknown[] = []
    const onCrash = (err: unknown) => crashes.push(err)
    process.on('uncaughtException', onCrash)
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'outage' })
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: 400 }, () => ({ kind: 'outage', maxAttempts: 3 })),
      })
      const under = await waitFor('the drain to be under way', async () => {
        const c = await counts(session.id)
        return (c.succeeded ?? 0) >= 40 ? c : undefined
      })
      expect((under.queued ?? 0) + (under.running ?? 0)).toBeGreaterThan(100)
      await sql.end({ timeout: 1 })
      restarted = true
      await restartPostgres(pg, 'immediate')
      sql = postgres(pg.url, { max: 2, onnotice: () => {} })
      const health = await worker.health()
      expect(health.live).toBe(true)

      // New work after the outage is picked up without a poll: the LISTEN connection came back.
      const [late] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'outage' }] })
      // The test's own reads share the worker's pool, whose connections come back one by one: a read
      // that meets one still connecting (a connect that times out on a loaded machine) is asked again.
      const transient = (err: unknown) => {
        const code = (err as { code?: unknown }).code
        if (err instanceof UnavailableError || code === 'CONNECT_TIMEOUT' || code === 'ECONNREFUSED')
          return undefined
        throw err
      }
      await waitFor(
        'the run enqueued after the restart to succeed',
        async () => (await client.runs.get(late?.id as string).catch(transient))?.status === 'succeeded',
        40_000,
      )
      await waitFor(
        'every run to succeed',
        async () => {
          const c = await counts(session.id).catch(transient)
          return c?.succeeded === 401 ? c : undefined
        },
        60_000,
      )
      // A claim whose answer the crash swallowed is recovered after the heartbeat timeout and run
      // then: still once. Nothing ran twice because of the outage alone.
      const twice = [...executions.entries()].filter(([, n]) => n > 1)
      expect(twice).toEqual([])
      expect(executions.size).toBe(401)
      expect((await worker.health()).ready).toBe(true)
      const [{ deadlocks }] = (await sql`
        select deadlocks::int from pg_stat_database where datname = current_database()`) as unknown as [
        { deadlocks: number },
      ]
      expect(deadlocks).toBe(0)
      // The outage was seen, as typed errors, and nothing crashed the process.
      expect(
        errors.some((m) => /unreachable|timed out|took longer/.test(m)),
        errors.join('\n'),
      ).toBe(true)
      expect(crashes).toEqual([])
    } finally {
      const started = Date.now()
      await worker.stop()
      expect(Date.now() - started).toBeLessThan(5000 + 5000 + 2000)
      await client.close()
      process.off('uncaughtException', onCrash)
    }
  }, 180_000)
})
