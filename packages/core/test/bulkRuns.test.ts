import { MAX_BULK_RUNS, ValidationError } from '@ops-control-room/core'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const LANES = ['A', 'B', 'C', 'D'] as const

describe('runs.count and bulk actions over a filter', () => {
  it('counts every matching run in the database, bounded by max', async () => {
    const { client } = ctx
    const s = await client.sessions.create({ name: 'count' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 1200 }, (_, i) => ({
        kind: i % 3 === 0 ? 'bulk-x' : 'bulk-y',
        lane: LANES[i % 4],
        params: { n: i, tag: i % 10 === 0 ? 'needle' : 'hay' },
      })),
    })
    expect(await client.runs.count({ sessionId: s.id })).toEqual({ count: 1200, capped: false })
    expect(await client.runs.count({ sessionId: s.id, kind: 'bulk-x' })).toEqual({
      count: 400,
      capped: false,
    })
    expect(await client.runs.count({ sessionId: s.id, lanes: ['A', 'C'] })).toEqual({
      count: 600,
      capped: false,
    })
    expect(await client.runs.count({ sessionId: s.id, search: 'needle' })).toEqual({
      count: 120,
      capped: false,
    })
    expect(await client.runs.count({ sessionId: s.id, status: 'failed' })).toEqual({
      count: 0,
      capped: false,
    })
    expect(await client.runs.count({ sessionId: s.id, max: 1000 })).toEqual({ count: 1000, capped: true })
    await expect(client.runs.count({ sessionId: s.id, max: 0 })).rejects.toBeInstanceOf(ValidationError)
    await expect(client.runs.count({ lanes: ['E' as 'A'] })).rejects.toBeInstanceOf(ValidationError)
  })

  it('cancels every match past one page, and leaves other runs alone', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'cancel matching' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 1500 }, (_, i) => ({
        kind: i % 2 ? 'bulk-a' : 'bulk-b',
        lane: LANES[i % 4],
      })),
    })
    const filter = { sessionId: s.id, kind: 'bulk-a', lanes: ['B', 'D'] as ('B' | 'D')[] }
    const { count } = await client.runs.count({ ...filter, status: ['queued', 'running'] })
    expect(count).toBe(750)
    const out = await client.runs.cancelMatching({ filter, reason: 'bulk test' })
    expect(out).toEqual({ seen: 750, changed: 750, capped: false })
    const rows = await sql`
      select kind, lane, status, count(*)::int as n from ops.runs where session_id = ${s.id}
      group by 1, 2, 3 order by 1, 2, 3`
    expect(rows.map((r) => `${r.kind} ${r.lane} ${r.status} ${r.n}`)).toEqual([
      'bulk-a B cancelled 375',
      'bulk-a D cancelled 375',
      'bulk-b A queued 375',
      'bulk-b C queued 375',
    ])

    // Retry what was cancelled, but at most 600: it says it stopped.
    const retried = await client.runs.retryMatching({
      filter: { sessionId: s.id, status: 'cancelled' },
      max: 600,
    })
    expect(retried).toEqual({ seen: 600, changed: 600, capped: true })
    expect(await client.runs.count({ sessionId: s.id, status: 'cancelled' })).toEqual({
      count: 150,
      capped: false,
    })
    // A filter on statuses the action does not apply to touches nothing.
    expect(await client.runs.cancelMatching({ filter: { sessionId: s.id, status: 'failed' } })).toEqual({
      seen: 0,
      changed: 0,
      capped: false,
    })
    await expect(
      client.runs.cancelMatching({ filter: { sessionId: s.id }, max: MAX_BULK_RUNS + 1 }),
    ).rejects.toBeInstanceOf(ValidationError)
    await expect(
      client.runs.cancelMatching({ filter: { sessionId: 'nope' } as never }),
    ).rejects.toBeInstanceOf(ValidationError)
  })

  it('is one transaction: a kind the role may not retry refuses the whole action, nothing changes', async () => {
    const { client, sql } = ctx
    await sql`select ops.set_kind_policy(${sql.json({ kind: 'tx-open', roles: ['authenticated'] })}::jsonb)`
    const s = await client.sessions.create({ name: 'all or nothing' })
    // 1,200 runs: more than the old client-side batches of 500, the one locked kind last (newest).
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 1200 }, (_, i) => ({
        kind: i === 1199 ? 'tx-locked' : 'tx-open',
        lane: 'A' as const,
      })),
    })
    await sql`update ops.runs set status = 'failed', worker_id = 'w', finished_at = now(), error = '{"type":"E","message":"x"}'
      where session_id = ${s.id}`
    const before = await digest(sql, s.id)
    const asUser = (fn: (tx: postgres.TransactionSql) => Promise<unknown>) =>
      sql.begin(async (tx) => {
        await tx`select set_config('role', 'authenticated', true),
          set_config('request.jwt.claims', ${JSON.stringify({ role: 'authenticated', sub: USER_A })}, true)`
        return fn(tx)
      })
    await expect(
      asUser((tx) => tx`select ops.retry_matching(${tx.json({ sessionId: s.id })}::jsonb)`),
    ).rejects.toMatchObject({ code: '42501' })
    expect(await digest(sql, s.id)).toEqual(before)
    expect(await client.runs.count({ sessionId: s.id, status: 'failed' })).toEqual({
      count: 1200,
      capped: false,
    })
    // The allowed kind alone: every one, in one call.
    const [row] = (await asUser(
      (tx) => tx`select ops.retry_matching(${tx.json({ sessionId: s.id, kind: 'tx-open' })}::jsonb) as out`,
    )) as postgres.Row[]
    expect(row?.out).toEqual({ seen: 1199, changed: 1199, capped: false })
    const events = await sql`
      select count(*)::int as n from ops.run_events e join ops.runs r on r.id = e.run_id
      where r.session_id = ${s.id} and e.type = 'run:retried'`
    expect(events[0]?.n).toBe(1199)
    // anon may neither cancel nor retry over a filter.
    await expect(
      sql.begin(async (tx) => {
        await tx`select set_config('role', 'anon', true)`
        return tx`select ops.cancel_matching(${tx.json({ sessionId: s.id })}::jsonb)`
      }),
    ).rejects.toMatchObject({ code: '42501' })
  })

  it("caps at max, newest first, and reads the runs under the caller's RLS", async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'cap and rls' })
    const made = await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 300 }, (_, i) => ({ kind: 'rls-k', lane: LANES[i % 4], params: { i } })),
    })
    // Half the runs are user A's, half user B's.
    await sql`update ops.runs set created_by = case when seq % 2 = 0 then ${USER_A}::uuid else ${USER_B}::uuid end
      where session_id = ${s.id}`
    // A deployment that lets users read only their own runs (a restrictive policy on top of runs_read).
    await sql`create policy runs_own_only on ops.runs as restrictive for select to authenticated
      using (created_by = ops.current_user_id())`
    try {
      const out = await sql.begin(async (tx) => {
        await tx`select set_config('role', 'authenticated', true),
          set_config('request.jwt.claims', ${JSON.stringify({ role: 'authenticated', sub: USER_A })}, true)`
        return tx`select ops.cancel_matching(${tx.json({ sessionId: s.id })}::jsonb, 'mine', 100) as out`
      })
      expect(out[0]?.out).toEqual({ seen: 100, changed: 100, capped: true })
    } finally {
      await sql`drop policy runs_own_only on ops.runs`
    }
    // The 100 cancelled are user A's newest 100 (by seq); none of user B's was touched.
    const cancelled = await sql`
      select seq, created_by from ops.runs where session_id = ${s.id} and status = 'cancelled' order by seq desc`
    const aNewest = await sql`
      select seq from ops.runs where session_id = ${s.id} and created_by = ${USER_A}::uuid order by seq desc limit 100`
    expect(cancelled.map((r) => String(r.seq))).toEqual(aNewest.map((r) => String(r.seq)))
    expect(new Set(cancelled.map((r) => r.created_by))).toEqual(new Set([USER_A]))
    expect(made.length).toBe(300)

    // The same filter semantics as counting: text in params, lanes, time range.
    const filter = {
      sessionId: s.id,
      lanes: ['B' as const],
      search: '"i": 1',
      createdAfter: '2000-01-01T00:00:00Z',
    }
    const { count } = await client.runs.count({ ...filter, status: ['queued', 'running'] })
    const out = await client.runs.cancelMatching({ filter })
    expect(out.seen).toBe(count)
    expect(out.changed).toBe(count)
    expect(count).toBeGreaterThan(0)

    // Hostile input: unknown fields and bad values are typed errors from the database too.
    await expect(
      sql`select ops.cancel_matching(${sql.json({ sessionId: s.id, where: '1=1' })}::jsonb)`,
    ).rejects.toMatchObject({ code: 'OPVAL' })
    await expect(sql`select ops.cancel_matching(${sql.json({ lanes: ['Z'] })}::jsonb)`).rejects.toMatchObject(
      { code: '22P02' },
    )
    await expect(
      sql`select ops.retry_matching(${sql.json({ search: "%' or true --" })}::jsonb)`,
    ).resolves.toEqual([{ retry_matching: { seen: 0, changed: 0, capped: false } }])
    await expect(client.runs.retryMatching({ filter: { sessionId: s.id }, max: 0 })).rejects.toBeInstanceOf(
      ValidationError,
    )
  })
})

const USER_A = '00000000-0000-4000-8000-00000000000a'
const USER_B = '00000000-0000-4000-8000-00000000000b'

/** Every run of a session and its event count: equal digests, nothing changed. */
async function digest(sql: postgres.Sql, sessionId: string): Promise<string> {
  const [row] = await sql`
    select md5(string_agg(r.id::text || r.status || r.updated_at::text || r.attempt, ',' order by r.id)) ||
      (select count(*) from ops.run_events e join ops.runs x on x.id = e.run_id where x.session_id = ${sessionId}) as d
    from ops.runs r where r.session_id = ${sessionId}`
  return String(row?.d)
}
