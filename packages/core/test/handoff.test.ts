import { createOpsClient, type Run, ValidationError } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// A worker that says it waits (ops.wait_for_runs) is handed a new run by the enqueue itself: the row
// is written claimed by it, and the run reaches it with the NOTIFY. These tests drive the SQL and the
// postgres backend directly; the worker's side is in packages/worker/test/handoff.test.ts.

let db: TestDatabase
let sql: postgres.Sql
const backend = () => postgresBackend({ sql })
let client: ReturnType<typeof createOpsClient>
let sessionId: string

beforeAll(async () => {
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 4, onnotice: () => {} })
  client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  sessionId = (await client.sessions.create({ name: 'handoff' })).id
})
afterAll(async () => {
  await client.close()
  await sql.end()
  await db.drop()
})

/** Handed runs heard by `workerId` on a backend of its own, as a worker process hears them. */
async function hear(workerId: string) {
  const b = postgresBackend({ databaseUrl: db.url })
  const heard: Run[] = []
  const waiters: (() => void)[] = []
  const unsubscribe = await b.onHandoff?.(workerId, (run) => {
    heard.push(run)
    for (const w of waiters.splice(0)) w()
  })
  return {
    heard,
    backend: b,
    async next(ms = 2000): Promise<Run> {
      const deadline = Date.now() + ms
      while (heard.length === 0) {
        if (Date.now() > deadline) throw new Error(`nothing handed to ${workerId} within ${ms} ms`)
        await new Promise<void>((r) => {
          waiters.push(r)
          setTimeout(r, 50)
        })
      }
      return heard.shift() as Run
    },
    async close() {
      await unsubscribe?.()
      await b.close()
    },
  }
}

const wait = (
  workerId: string,
  lanes: Partial<Record<'A' | 'B' | 'C' | 'D', number>>,
  kinds: string[],
  ttlMs = 10_000,
) => backend().waitForRuns?.({ workerId, lanes, kinds, ttlMs }) as Promise<{ id: string; lease: string }[]>

const enqueueOne = async (spec: Record<string, unknown>) => {
  const [run] = await client.runs.enqueue({ sessionId, runs: [spec as never] })
  return run as Run
}

describe('hand-off to a waiting worker', () => {
  it('writes the run claimed by the waiting worker and delivers that row with the NOTIFY', async () => {
    const w = await hear('w-hand-1')
    try {
      expect(await wait('w-hand-1', { A: 2 }, ['hand-1'])).toEqual([])
      const run = await enqueueOne({ kind: 'hand-1', lane: 'A', params: { n: 1 } })
      expect(run).toMatchObject({ status: 'running', workerId: 'w-hand-1', attempt: 1, params: { n: 1 } })
      expect(run.lease).toMatch(/^\d+$/)
      expect(run.claimedAt).toBe(run.createdAt)
      const handed = await w.next()
      // The same run, as the enqueue answered it (and as a claim would have).
      expect(handed).toEqual(run)
      const [slots] = await sql`select slots from ops.run_waiters where worker_id = 'w-hand-1' and lane = 'A'`
      expect(slots?.slots).toBe(1)
      // The worker's next wait lists what was handed to it since its last (once), to check it heard it.
      expect(await wait('w-hand-1', { A: 1 }, ['hand-1'])).toEqual([{ id: run.id, lease: run.lease }])
      expect(await wait('w-hand-1', { A: 1 }, ['hand-1'])).toEqual([])
      // Its lease fences it like any claimed run's.
      await client.worker
        .complete({ workerId: 'w-hand-1', results: [{ id: run.id, lease: '999999' }] })
        .catch(() => [])
      expect((await client.runs.get(run.id)).status).toBe('running')
      const [done] = await client.worker.complete({
        workerId: 'w-hand-1',
        results: [{ id: run.id, lease: run.lease as string }],
      })
      expect(done).toMatchObject({ id: run.id, status: 'succeeded' })
      const [invariants] =
        await sql`select ops.runs_invariants(r) as ok from ops.runs r where r.id = ${run.id}`
      expect(invariants?.ok).toBe(true)
    } finally {
      await w.close()
    }
  })

  it('gives a handed run the history a claimed run has', async () => {
    const w = await hear('w-hand-hist')
    try {
      await wait('w-hand-hist', { B: 1 }, ['hand-hist'])
      const handed = await enqueueOne({ kind: 'hand-hist', lane: 'B' })
      expect(handed.status).toBe('running')
      await wait('w-hand-hist', { B: 0 }, ['hand-hist'])
      const queued = await enqueueOne({ kind: 'hand-hist', lane: 'B' })
      expect(queued.status).toBe('queued')
      const [claimed] = await client.worker.claim({
        workerId: 'w-hand-hist',
        lanes: { B: 1 },
        kinds: ['hand-hist'],
      })
      expect(claimed?.id).toBe(queued.id)
      for (const r of [handed, claimed as Run]) {
        await client.worker.complete({
          workerId: 'w-hand-hist',
          results: [{ id: r.id, lease: r.lease as string }],
        })
      }
      const shape = async (id: string) =>
        (await client.events.list({ runId: id })).map((e) => [e.type, e.attempt, e.level])
      expect(await shape(handed.id)).toEqual(await shape(queued.id))
      expect((await shape(handed.id)).map(([t]) => t)).toEqual([
        'run:enqueued',
        'run:claimed',
        'run:succeeded',
      ])
    } finally {
      await w.close()
    }
  })

  it('queues what it may not hand: other kinds and lanes, batches, keys, future runs, big rows, no slots, expired waits', async () => {
    const w = await hear('w-hand-2')
    try {
      await wait('w-hand-2', { C: 1 }, ['hand-2'])
      const notHanded = [
        await enqueueOne({ kind: 'hand-2-other', lane: 'C' }),
        await enqueueOne({ kind: 'hand-2', lane: 'D' }),
        ...(await client.runs.enqueue({
          sessionId,
          runs: [
            { kind: 'hand-2', lane: 'C' },
            { kind: 'hand-2', lane: 'C' },
          ],
        })),
        await enqueueOne({ kind: 'hand-2', lane: 'C', idempotencyKey: 'hand-2-key' }),
        await enqueueOne({ kind: 'hand-2', lane: 'C', runAt: new Date(Date.now() + 60_000).toISOString() }),
      ]
      // The batch's runs are queued in lane C: nothing more is handed there until they are gone.
      const [extra] = [await enqueueOne({ kind: 'hand-2', lane: 'C' })]
      expect([...notHanded, extra].map((r) => r?.status)).toEqual(Array(7).fill('queued'))
      await client.runs.cancel(notHanded[2]?.id as string)
      await client.runs.cancel(notHanded[3]?.id as string)
      await client.runs.cancel(notHanded[4]?.id as string)
      await client.runs.cancel(extra?.id as string)
      // The lane is clear again (a future run does not count): the next one is handed.
      expect((await enqueueOne({ kind: 'hand-2', lane: 'C' })).status).toBe('running')
      // No slot left.
      expect((await enqueueOne({ kind: 'hand-2', lane: 'C' })).status).toBe('queued')
      await sql`delete from ops.runs where kind = 'hand-2' and lane = 'C' and status = 'queued'`
      await wait('w-hand-2', { C: 3 }, ['hand-2'])
      // A row too big for a NOTIFY.
      expect(
        (await enqueueOne({ kind: 'hand-2', lane: 'C', params: { blob: 'x'.repeat(7000) } })).status,
      ).toBe('queued')
      await sql`delete from ops.runs where kind = 'hand-2' and lane = 'C' and status = 'queued'`
      // A wait that was not said again in time.
      await wait('w-hand-2', { C: 3 }, ['hand-2'], 100)
      await new Promise((r) => setTimeout(r, 150))
      expect((await enqueueOne({ kind: 'hand-2', lane: 'C' })).status).toBe('queued')
      expect(w.heard.map((r) => r.kind)).toEqual(['hand-2'])
    } finally {
      await w.close()
    }
  })

  it('never hands a run to a worker that stopped waiting, and picks the most recent of several', async () => {
    await wait('w-hand-3a', { D: 5 }, ['hand-3'])
    await new Promise((r) => setTimeout(r, 20))
    await wait('w-hand-3b', { D: 5 }, ['hand-3'])
    expect((await enqueueOne({ kind: 'hand-3', lane: 'D' })).workerId).toBe('w-hand-3b')
    await wait('w-hand-3b', { D: 0 }, ['hand-3'])
    expect((await enqueueOne({ kind: 'hand-3', lane: 'D' })).workerId).toBe('w-hand-3a')
    await wait('w-hand-3a', { D: 0 }, ['hand-3'])
    expect((await enqueueOne({ kind: 'hand-3', lane: 'D' })).status).toBe('queued')
    const rows = await sql`select worker_id from ops.run_waiters where worker_id like 'w-hand-3%'`
    expect(rows).toHaveLength(0)
  })

  it('hands nothing to a worker whose session is gone (a worker that died before its wait expired)', async () => {
    const lone = postgres(db.url, { max: 1, onnotice: () => {} })
    const [said] =
      await lone`select pg_backend_pid() as pid, (select count(*) from ops.wait_for_runs('w-hand-gone', '{B}', '{3}', '{hand-gone}', 60000))::int as n`
    await lone.end()
    const gone = async () =>
      (await sql`select count(*)::int as n from pg_stat_activity where pid = ${said?.pid}`)[0]?.n === 0
    for (let i = 0; i < 100 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 20))
    const run = await enqueueOne({ kind: 'hand-gone', lane: 'B' })
    expect(run).toMatchObject({ status: 'queued', workerId: null })
    // The same wait from a live session is handed to.
    await wait('w-hand-gone', { B: 3 }, ['hand-gone'])
    await client.runs.cancel(run.id)
    expect((await enqueueOne({ kind: 'hand-gone', lane: 'B' })).workerId).toBe('w-hand-gone')
  })

  it('refuses a malformed wait with a ValidationError, and keeps the waits in an unlogged table', async () => {
    const b = backend()
    const bad = [
      { workerId: '', lanes: { A: 1 }, kinds: ['k'], ttlMs: 1000 },
      { workerId: 'w', lanes: { A: -1 }, kinds: ['k'], ttlMs: 1000 },
      { workerId: 'w', lanes: { A: 1001 }, kinds: ['k'], ttlMs: 1000 },
      { workerId: 'w', lanes: { A: 1 }, kinds: [], ttlMs: 1000 },
      { workerId: 'w', lanes: { A: 1 }, kinds: ['k'], ttlMs: 10 },
      { workerId: 'w', lanes: { A: 1 }, kinds: ['k'], ttlMs: 10_000_000 },
    ]
    for (const input of bad) await expect(b.waitForRuns?.(input)).rejects.toBeInstanceOf(ValidationError)
    const [t] = await sql`select relpersistence from pg_class where oid = 'ops.run_waiters'::regclass`
    expect(t?.relpersistence).toBe('u')
    // Only the service role waits; anon and authenticated may not even call it.
    const [grants] = await sql`
      select has_function_privilege('anon', 'ops.wait_for_runs(text, ops.lane_type[], integer[], text[], integer)', 'execute') as anon,
        has_function_privilege('authenticated', 'ops.wait_for_runs(text, ops.lane_type[], integer[], text[], integer)', 'execute') as authed`
    expect(grants).toEqual({ anon: false, authed: false })
  })

  it('is offered by postgresBackend unless turned off or behind a transaction pooler (prepare: false)', () => {
    expect(typeof postgresBackend({ sql }).waitForRuns).toBe('function')
    expect(postgresBackend({ sql, handoff: false }).waitForRuns).toBeUndefined()
    expect(postgresBackend({ sql, prepare: false }).onHandoff).toBeUndefined()
  })
})
