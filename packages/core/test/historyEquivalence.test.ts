import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { defaultMigrationsDir, migrate, postgresBackend } from '@ops-control-room/core/postgres'
import { createDatabaseFromTemplate, createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Migration 20261130008000 moved the routine lifecycle (enqueued, claimed, succeeded) from event rows
 * to the run's row, and ops.run_history reads it back. This replays every lifecycle scenario of the
 * core suite on a database migrated without it (where every transition wrote a run_events row) and
 * on the current schema, and asserts the histories are the same, event for event.
 */
const LIFECYCLE_ON_THE_ROW = '20261130008000'

interface Side {
  db: TestDatabase
  client: OpsClient
  sql: postgres.Sql
}

let before: Side
let after: Side
let oldMigrations: string

async function side(db: TestDatabase): Promise<Side> {
  return {
    db,
    client: createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) }),
    sql: postgres(db.url, { max: 2, onnotice: () => {} }),
  }
}

beforeAll(async () => {
  // An empty database from template0, migrated with the migrations before the change only.
  after = await side(await createTestDatabase())
  const empty = await createDatabaseFromTemplate(after.db.adminUrl, 'template0')
  oldMigrations = await mkdtemp(join(tmpdir(), 'ops-history-before-'))
  const dir = defaultMigrationsDir()
  for (const f of await readdir(dir))
    if (f < LIFECYCLE_ON_THE_ROW) await cp(join(dir, f), join(oldMigrations, f))
  await migrate({ databaseUrl: empty.url, migrationsDir: oldMigrations })
  before = await side(empty)
})

afterAll(async () => {
  for (const s of [before, after]) {
    if (!s) continue
    await s.client.close()
    await s.sql.end()
    await s.db.drop()
  }
  if (oldMigrations) await rm(oldMigrations, { recursive: true, force: true })
})

function held(run: { id: string; lease: string | null } | undefined) {
  return { id: run?.id as string, lease: run?.lease as string }
}

/**
 * Every lifecycle the core suite drives, through the client, the same way on either schema. Returns
 * the runs it made, by name.
 */
async function scenarios({ client, sql }: Side): Promise<Record<string, string>> {
  const runs: Record<string, string> = {}
  const session = await client.sessions.create({ name: 'history' })
  const enqueue = async (name: string, opts: { maxAttempts?: number } = {}) => {
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: name, lane: 'B', maxAttempts: opts.maxAttempts, params: { name } }],
    })
    runs[name] = run?.id as string
    return run
  }
  const claim = async (name: string, workerId = 'w1') => {
    const [run] = await client.worker.claim({ workerId, lanes: { B: 1 }, kinds: [name] })
    expect(run?.id).toBe(runs[name])
    return run
  }
  const age = (name: string, seconds: number) =>
    sql`update ops.runs set heartbeat_at = now() - make_interval(secs => ${seconds}) where id = ${runs[name] as string}`
  const due = (name: string) => sql`update ops.runs set run_at = now() where id = ${runs[name] as string}`
  const error = {
    type: 'boom',
    message: 'it broke',
    stack: 'Error: it broke\n    at x',
    context: { step: 2 },
  }

  // Enqueued only; enqueued twice with one idempotency key; from a template.
  await enqueue('queued')
  const [keyed] = await client.runs.enqueue({
    sessionId: session.id,
    runs: [{ kind: 'keyed', lane: 'B', idempotencyKey: 'k1' }],
  })
  runs.keyed = keyed?.id as string
  await client.runs.enqueue({
    sessionId: session.id,
    runs: [{ kind: 'keyed', lane: 'B', idempotencyKey: 'k1' }],
  })
  await client.templates.create({ name: 'tpl', kind: 'templated', lane: 'B', defaultParams: { a: 1 } })
  runs.templated = (await client.templates.enqueue({ sessionId: session.id, name: 'tpl' })).id

  // Claimed and still running, with a handler's log lines (one under the lease, one without).
  const running = await claim('templated')
  await client.worker.appendEvents({
    events: [
      { runId: running?.id as string, lease: running?.lease as string, message: 'step 1', data: { n: 1 } },
      { runId: running?.id as string, level: 'warn', type: 'step:stdout', message: 'no lease' },
    ],
  })
  await client.worker.progress({ workerId: 'w1', updates: [{ ...held(running), progress: 0.5 }] })

  // Claimed and completed; a stale completion and an intruder's completion write nothing.
  await enqueue('succeeded')
  const s1 = await claim('succeeded')
  await client.worker.appendEvents({
    events: [{ runId: s1?.id as string, lease: s1?.lease as string, message: 'hi' }],
  })
  await client.worker.complete({
    workerId: 'intruder',
    results: [{ id: s1?.id as string, lease: '1', result: 1 }],
  })
  await client.worker.complete({ workerId: 'w1', results: [{ ...held(s1), result: { ok: true } }] })
  await client.worker.complete({ workerId: 'w1', results: [{ ...held(s1), result: 2 }] })

  // Failed twice with retries, then finally.
  await enqueue('retries', { maxAttempts: 3 })
  let r = await claim('retries')
  await client.worker.fail({ workerId: 'w1', failures: [{ ...held(r), error }] })
  await due('retries')
  r = await claim('retries', 'w2')
  await client.worker.fail({ workerId: 'w2', failures: [{ ...held(r), error }] })
  await due('retries')
  r = await claim('retries')
  await client.worker.fail({ workerId: 'w1', failures: [{ ...held(r), error }] })

  // Not retryable; then retried by an operator (retry_runs), claimed again and completed.
  await enqueue('fatal', { maxAttempts: 5 })
  r = await claim('fatal')
  await client.worker.fail({ workerId: 'w1', failures: [{ ...held(r), error, retry: false }] })
  await client.runs.retry({ ids: [runs.fatal as string] })
  r = await claim('fatal', 'w2')
  await client.worker.complete({ workerId: 'w2', results: [{ ...held(r), result: null }] })

  // Released (the attempt given back), claimed by another worker, completed.
  await enqueue('released')
  r = await claim('released')
  await client.worker.release({ workerId: 'w1', runs: [held(r)] })
  r = await claim('released', 'w2')
  await client.worker.complete({ workerId: 'w2', results: [held(r)] })

  // Released while a cancel was pending: cancelled.
  await enqueue('release-cancel')
  r = await claim('release-cancel')
  await client.runs.cancel(r?.id as string, 'stop it')
  await client.worker.release({ workerId: 'w1', runs: [held(r)], reason: 'shutdown' })

  // Cancelled while queued; cancelled while running and acknowledged; then retried and cancelled again.
  await enqueue('cancel-queued')
  await client.runs.cancel(runs['cancel-queued'] as string)
  await enqueue('cancel-running')
  r = await claim('cancel-running')
  await client.runs.cancel(r?.id as string, 'no longer needed')
  await client.worker.heartbeat({ workerId: 'w1', runs: [held(r)] })
  await client.worker.ackCancel({ workerId: 'w1', runs: [held(r)], note: 'stopped' })
  await client.runs.retry({ ids: [runs['cancel-running'] as string] })
  await client.runs.cancel(runs['cancel-running'] as string)

  // Recovered: requeued and reclaimed (the lost lease); failed when no attempts remain; cancelled
  // when a cancel was pending.
  await enqueue('recovered', { maxAttempts: 2 })
  r = await claim('recovered')
  await age('recovered', 31)
  await client.worker.recoverStuck({ timeoutSeconds: 30 })
  await client.worker.heartbeat({ workerId: 'w1', runs: [held(r)] })
  await client.worker.complete({ workerId: 'w1', results: [held(r)] })
  r = await claim('recovered', 'w2')
  await client.worker.complete({ workerId: 'w2', results: [held(r)] })
  await enqueue('recovered-failed')
  r = await claim('recovered-failed')
  await age('recovered-failed', 45)
  await client.worker.recoverStuck({ timeoutSeconds: 30 })
  await client.runs.retry({ ids: [runs['recovered-failed'] as string] })
  await enqueue('recovered-cancelled', { maxAttempts: 3 })
  r = await claim('recovered-cancelled')
  await client.runs.cancel(r?.id as string)
  await age('recovered-cancelled', 60)
  await client.worker.recoverStuck({ timeoutSeconds: 30 })
  return runs
}

interface HistoryRow {
  id: string
  run_id: string
  level: string
  type: string
  message: string
  data: unknown
  created_at: Date
  attempt: number | null
}

/** Values that differ between two replays by timing: durations and timestamps. */
function normalise(value: unknown, leases: Map<string, number>): unknown {
  if (Array.isArray(value)) return value.map((v) => normalise(v, leases))
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => {
        if (/(_ms|_at)$/.test(k)) return [k, typeof v]
        if (k === 'lease' && typeof v === 'string') {
          if (!leases.has(v)) leases.set(v, leases.size)
          return [k, `lease#${leases.get(v)}`]
        }
        return [k, normalise(v, leases)]
      }),
    )
  }
  return value
}

function comparable(rows: HistoryRow[], leases: Map<string, number>) {
  return rows.map((e) => ({
    level: e.level,
    type: e.type,
    message: e.message.replace(/\(no heartbeat since [^)]*\)/, '(no heartbeat since …)'),
    attempt: e.attempt,
    data: normalise(e.data, leases),
  }))
}

describe('ops.run_history', () => {
  it('gives every run the history its event rows gave before the lifecycle moved to the row', async () => {
    const oldRuns = await scenarios(before)
    const newRuns = await scenarios(after)
    expect(Object.keys(newRuns)).toEqual(Object.keys(oldRuns))
    const oldLeases = new Map<string, number>()
    const newLeases = new Map<string, number>()
    let routineRows = 0
    for (const name of Object.keys(oldRuns)) {
      const old = await before.sql<HistoryRow[]>`
        select * from ops.run_events where run_id = ${oldRuns[name] as string} order by id`
      const now = await after.sql<HistoryRow[]>`
        select * from ops.run_history(${newRuns[name] as string}) order by id`
      expect(old.length, name).toBeGreaterThan(0)
      expect({ name, history: comparable(now, newLeases) }).toEqual({
        name,
        history: comparable(old, oldLeases),
      })
      const stored = await after.sql<{ n: number }[]>`
        select count(*)::int as n from ops.run_events where run_id = ${newRuns[name] as string}`
      routineRows += now.length - (stored[0]?.n ?? 0)
    }
    // The routine transitions were not stored as rows.
    expect(routineRows).toBeGreaterThan(20)
    const [{ n } = { n: -1 }] = await after.sql<{ n: number }[]>`
      select count(*)::int as n from ops.run_events where type in ('run:enqueued', 'run:claimed', 'run:succeeded')`
    expect(n).toBe(0)
  })

  it('has unique ids that tail: every suffix after an id is the history after that id', async () => {
    const ids: string[] = []
    const runIds = (await after.sql<{ id: string }[]>`select id from ops.runs`).map((r) => r.id)
    expect(runIds.length).toBeGreaterThan(10)
    for (const runId of runIds) {
      const all = (await after.client.events.list({ runId, limit: 1000 })).map((e) => e.id)
      expect(all).toEqual([...all].sort((a, b) => a - b))
      ids.push(...all.map(String))
      for (let k = 0; k < all.length; k++) {
        const tail = await after.client.events.list({ runId, afterId: all[k], limit: 1000 })
        expect(tail.map((e) => e.id)).toEqual(all.slice(k + 1))
      }
      // A page of one, then the rest: the first page is the first event.
      const [first] = await after.client.events.list({ runId, limit: 1 })
      expect(first?.id).toBe(all[0])
    }
    expect(new Set(ids).size).toBe(ids.length)
  })
})
