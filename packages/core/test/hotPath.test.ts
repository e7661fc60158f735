import type { Change } from '@ops-control-room/core'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

/**
 * Collects raw NOTIFY payloads on the given channels; registered as a watcher of run and events
 * changes (ops.watch_changes) unless `watch` is false.
 */
async function listen(url: string, channels: string[], watch = true) {
  const conn = postgres(url, { max: 1, onnotice: () => {} })
  const got: { channel: string; payload: unknown }[] = []
  for (const channel of channels) {
    await conn.listen(channel, (payload) =>
      got.push({ channel, payload: channel === 'ops_runs_queued' ? payload : JSON.parse(payload) }),
    )
  }
  const id = crypto.randomUUID()
  if (watch) await conn`select ops.watch_changes(${id}::uuid, 60)`
  return {
    got,
    close: async () => {
      if (watch) await conn`select ops.watch_changes(${id}::uuid, 0)`
      await conn.end()
    },
  }
}

describe('the claim and completion hot path (migration 20261128004000)', () => {
  it('claim_runs and complete_runs announce status changes and events with the payloads the triggers send', async () => {
    const { client, db } = ctx
    const s = await client.sessions.create({ name: 'hot path' })
    const runs = await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 120 }, () => ({ kind: 'hot', lane: 'B' as const })),
    })
    const ids = new Set(runs.map((r) => r.id))
    const l = await listen(db.url, ['ops_run_changes', 'ops_run_events'])
    try {
      const claimed = await client.worker.claim({ workerId: 'w-hot', lanes: { B: 120 }, kinds: ['hot'] })
      expect(claimed).toHaveLength(120)
      await client.worker.complete({
        workerId: 'w-hot',
        results: claimed.map((r) => ({ id: r.id, lease: r.lease as string })),
      })
      const statuses = (status: string) => async () =>
        l.got
          .filter((n) => n.channel === 'ops_run_changes')
          .flatMap((n) => (n.payload as { runs: { id: string; status: string; session_id: string }[] }).runs)
          .filter((r) => r.status === status && r.session_id === s.id && ids.has(r.id)).length
      await expect.poll(statuses('running'), { timeout: 5000 }).toBe(120)
      await expect.poll(statuses('succeeded'), { timeout: 5000 }).toBe(120)
      // Chunked as before: at most 50 runs per status payload, 150 run ids per events payload.
      for (const n of l.got) {
        if (n.channel === 'ops_run_changes')
          expect((n.payload as { runs: unknown[] }).runs.length).toBeLessThanOrEqual(50)
        else expect((n.payload as { run_ids: unknown[] }).run_ids.length).toBeLessThanOrEqual(150)
      }
      const eventIds = l.got
        .filter((n) => n.channel === 'ops_run_events')
        .flatMap((n) => (n.payload as { run_ids: string[] }).run_ids)
      // One events notification per run for the claim and one for the completion.
      expect(eventIds.filter((id) => ids.has(id))).toHaveLength(240)
    } finally {
      await l.close()
    }
  })

  it('sends no status or events notification while nobody watches, and queued and cancel ones always (migration 20261130008100)', async () => {
    const { client, db } = ctx
    const s = await client.sessions.create({ name: 'unwatched' })
    const l = await listen(
      db.url,
      ['ops_run_changes', 'ops_run_events', 'ops_runs_queued', 'ops_cancel'],
      false,
    )
    try {
      const [a, b] = await client.runs.enqueue({
        sessionId: s.id,
        runs: [
          { kind: 'unwatched', lane: 'D' },
          { kind: 'unwatched', lane: 'D' },
        ],
      })
      const claimed = await client.worker.claim({ workerId: 'w-un', lanes: { D: 2 }, kinds: ['unwatched'] })
      expect(claimed).toHaveLength(2)
      await client.worker.appendEvents({ events: [{ runId: a?.id as string, message: 'a line' }] })
      await client.worker.complete({
        workerId: 'w-un',
        results: [{ id: a?.id as string, lease: claimed[0]?.lease as string }],
      })
      await client.runs.cancel(b?.id as string)
      await expect
        .poll(() => l.got.filter((n) => n.channel === 'ops_cancel').length, { timeout: 5000 })
        .toBe(1)
      expect(l.got.filter((n) => n.channel === 'ops_runs_queued').map((n) => n.payload)).toContain('D')
      // Notifications arrive in commit order: the cancel was announced after the claim and the
      // completion had committed, so theirs would have arrived by now.
      expect(l.got.filter((n) => n.channel === 'ops_run_changes' || n.channel === 'ops_run_events')).toEqual(
        [],
      )
    } finally {
      await l.close()
    }
  })

  it('announces the run:enqueued event of an enqueue to watchers, as its event row did', async () => {
    const { client, db } = ctx
    const s = await client.sessions.create({ name: 'enqueued event' })
    const l = await listen(db.url, ['ops_run_events'])
    try {
      const [run] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'announced', lane: 'D' }] })
      await expect
        .poll(() => l.got.flatMap((n) => (n.payload as { run_ids: string[] }).run_ids), { timeout: 5000 })
        .toContain(run?.id)
    } finally {
      await l.close()
    }
  })

  it('leaves the triggers on for everything else in the same transaction', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'flag' })
    const [a, b] = await client.runs.enqueue({
      sessionId: s.id,
      runs: [
        { kind: 'flag', lane: 'C' },
        { kind: 'flag-other', lane: 'C' },
      ],
    })
    const seen: Change[] = []
    const stop = await client.subscribe((c) => seen.push(c), { types: ['run'] })
    try {
      await sql.begin(async (tx) => {
        await tx`select * from ops.claim_runs('w-flag', '{C}'::ops.lane_type[], '{1}'::int[], '{flag}'::text[])`
        const [flag] = await tx`select current_setting('ops.notified', true) as v`
        expect(flag?.v).toBe('off')
        // A trigger-announced change after the function in the same transaction.
        await tx`select * from ops.request_cancel(${`{${b?.id}}`}::uuid[], 'no longer needed')`
      })
      await expect
        .poll(
          () =>
            seen
              .filter((c) => c.type === 'run' && c.sessionId === s.id)
              .map((c) => c.type === 'run' && c.status)
              .sort(),
          {
            timeout: 5000,
          },
        )
        .toEqual(['cancelled', 'running'])
      expect((await client.runs.get(a?.id as string)).status).toBe('running')
    } finally {
      await stop()
    }
  })

  it('keeps primary-key lookups for running-run filters, and reads the table for the sweep (migrations 20261130010200, 20261130010600)', async () => {
    const { sql } = ctx
    const plan = async (query: string, args = '') => {
      const rows = await sql.begin(async (tx) => {
        await tx`set local plan_cache_mode = force_generic_plan`
        // A test table is tiny: rule sequential scans out to see which indexes a plan can use.
        await tx`set local enable_seqscan = off`
        await tx.unsafe(`prepare q as ${query}`)
        const out = await tx.unsafe(`explain execute q${args}`)
        await tx.unsafe('deallocate q')
        return out
      })
      return rows.map((r) => String(r['QUERY PLAN'])).join('\n')
    }
    // The shape of complete_runs, fail_runs, heartbeat, ack_cancel and release_runs.
    const settle = await plan(
      `select id from ops.runs r where r.id = any ($1::uuid[]) and r.status = 'running' and r.worker_id = $2`,
      `('{}', 'w')`,
    )
    expect(settle).toContain('runs_pkey')
    expect(settle).not.toContain('idx_runs_kind_queue')
    // The shape of recover_stuck_runs: no index serves it (one would have to change at completion).
    const sweep = await plan(
      `select id from ops.runs r where r.status = 'running' and r.heartbeat_at < now() - interval '30 seconds'`,
    )
    expect(sweep).not.toMatch(/Index (Only )?Scan using (?!runs_pkey|idx_runs_seq|idx_runs_session)/)
  })

  it('completes without an index entry: a completion is a HOT update (migration 20261130010600)', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'hot completions' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 20 }, () => ({ kind: 'k-done', lane: 'C' as const })),
    })
    const counters = (tx: postgres.TransactionSql) => tx`
      select n_tup_upd::int as updates, n_tup_hot_upd::int as hot
      from pg_stat_xact_user_tables where schemaname = 'ops' and relname = 'runs'`
    let updates = 0
    let hot = 0
    // Claims and completions of 5 runs, each its own transaction as a worker sends them; only the
    // completions are counted.
    for (let i = 0; i < 4; i++) {
      const held =
        await sql`select id, lease::text as lease from ops.claim_runs('w-done', '{C}', '{5}', '{k-done}')`
      expect(held).toHaveLength(5)
      const results = held.map((r) => ({ id: r.id as string, lease: r.lease as string, result: { i } }))
      await sql.begin(async (tx) => {
        const [a] = await counters(tx)
        const done = await tx`select id from ops.complete_runs('w-done', ${tx.json(results)}::jsonb)`
        expect(done).toHaveLength(5)
        const [b] = await counters(tx)
        updates += (b?.updates ?? 0) - (a?.updates ?? 0)
        hot += (b?.hot ?? 0) - (a?.hot ?? 0)
      })
    }
    expect(updates).toBe(20)
    // Each needs room on its row's page (fillfactor 60); with an index on a column a completion
    // writes, none could be HOT.
    expect(hot).toBeGreaterThanOrEqual(10)
    // No index of ops.runs holds a column a completion (or a heartbeat) writes, in its key, its
    // INCLUDE list, its predicate or an expression.
    const written = [
      'status',
      'result',
      'error',
      'finished_at',
      'updated_at',
      'finished_event_id',
      'heartbeat_at',
    ]
    const indexed = await sql`
      select i.indexrelid::regclass::text as index, c.col from pg_index i
      cross join unnest(${sql.array(written)}::text[]) c(col)
      where i.indrelid = 'ops.runs'::regclass
        and (exists (
            select 1 from pg_attribute a
            where a.attrelid = i.indrelid and a.attname = c.col and a.attnum = any (i.indkey::int2[]))
          or pg_get_expr(i.indpred, i.indrelid) ~ ('\m' || c.col || '\M')
          or pg_get_expr(i.indexprs, i.indrelid) ~ ('\m' || c.col || '\M'))`
    expect(indexed).toEqual([])
    await sql`delete from ops.sessions where id = ${s.id}`
  })

  it('keeps the queue index and the status in step: a run is queued exactly when it has no worker and no cancel request', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'queue membership' })
    const [run] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'k-member', lane: 'C' }] })
    // A direct write that would leave a run in the queue index without being queued, or queued
    // outside it, is refused with the rule's name.
    await expect(
      sql`update ops.runs set status = 'cancelled', finished_at = now() where id = ${run?.id as string}`,
    ).rejects.toMatchObject({ constraint_name: 'runs_queue_membership' })
    await expect(
      sql`update ops.runs set cancel_requested_at = now() where id = ${run?.id as string}`,
    ).rejects.toMatchObject({ constraint_name: 'runs_queue_membership' })
    // Through the API each transition keeps it: cancel of a queued run, retry, claim, cancel of a
    // running run, its release.
    await client.runs.cancel(run?.id as string)
    await client.runs.retry({ ids: [run?.id as string] })
    const [held] = await sql`select id from ops.claim_runs('w-member', '{C}', '{1}', '{k-member}')`
    expect(held?.id).toBe(run?.id)
    const [counts] = await sql`
      select count(*) filter (where (status = 'queued') <> (worker_id is null and cancel_requested_at is null))::int as broken
      from ops.runs`
    expect(counts?.broken).toBe(0)
    await sql`delete from ops.sessions where id = ${s.id}`
  })

  it('beats without a new tuple or index entry: a heartbeat is a HOT update (migration 20261130010200)', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'hot beats' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 20 }, () => ({ kind: 'k-beat', lane: 'C' as const })),
    })
    const held =
      await sql`select id, lease::text as lease from ops.claim_runs('w-beat', '{C}', '{20}', '{k-beat}')`
    expect(held).toHaveLength(20)
    const ids = sql.array(held.map((r) => r.id as string))
    const leases = sql.array(held.map((r) => r.lease as string))
    // This backend's pending table counters (pg_stat_xact_*, not yet flushed to pg_stat_*), read before
    // and after the beats inside one transaction: the difference is what the beats did.
    const counters = (tx: postgres.TransactionSql) => tx`
      select n_tup_upd::int as updates, n_tup_hot_upd::int as hot
      from pg_stat_xact_user_tables where schemaname = 'ops' and relname = 'runs'`
    // Five beats, each its own transaction (as a worker sends them), each counted inside it.
    let updates = 0
    let hot = 0
    for (let i = 0; i < 5; i++) {
      await sql.begin(async (tx) => {
        const [a] = await counters(tx)
        const answer = await tx`select * from ops.heartbeat('w-beat', ${ids}::uuid[], ${leases}::bigint[])`
        expect(answer).toHaveLength(0)
        const [b] = await counters(tx)
        updates += (b?.updates ?? 0) - (a?.updates ?? 0)
        hot += (b?.hot ?? 0) - (a?.hot ?? 0)
      })
    }
    expect(updates).toBe(100)
    // With heartbeat_at in an index none could be HOT. How many are depends on room on the page
    // (fillfactor 60, and the versions earlier beats left, pruned once no snapshot needs them): 77 to
    // 100 of 100 in runs here.
    expect(hot).toBeGreaterThanOrEqual(50)
    // And no index of ops.runs holds heartbeat_at, in its key, its INCLUDE list or its predicate.
    const [indexed] = await sql`
      select count(*)::int as n from pg_index i
      where i.indrelid = 'ops.runs'::regclass
        and (exists (
            select 1 from pg_attribute a
            where a.attrelid = i.indrelid and a.attname = 'heartbeat_at' and a.attnum = any (i.indkey::int2[]))
          or pg_get_expr(i.indpred, i.indrelid) like '%heartbeat_at%'
          or pg_get_expr(i.indexprs, i.indrelid) like '%heartbeat_at%')`
    expect(indexed?.n).toBe(0)
    await sql`delete from ops.sessions where id = ${s.id}`
  })

  it('plans claim_runs on the queue index and complete_runs on primary keys (migration 20261128005000)', async () => {
    const { client, db } = ctx
    const s = await client.sessions.create({ name: 'plans' })
    await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'planned', lane: 'C' }] })
    const notices: string[] = []
    const conn = postgres(db.url, { max: 1, onnotice: (n) => notices.push(String(n.message)) })
    try {
      // auto_explain prints the plans of the statements inside the functions, as they run.
      await conn`load 'auto_explain'`
      await conn`set auto_explain.log_min_duration = 0`
      await conn`set auto_explain.log_nested_statements = on`
      await conn`set auto_explain.log_level = notice`
      await conn`set client_min_messages = notice`
      await conn`set enable_seqscan = off`
      const claimed =
        await conn`select id, lease::text as lease from ops.claim_runs('plan-w', '{C}', '{5}', '{planned}')`
      expect(claimed).toHaveLength(1)
      const claimPlans = notices.splice(0).join('\n')
      // Kinds given: the kind queue index (migration 20261130007000), never the lane index, so queued
      // runs of other kinds are not read.
      expect(claimPlans).toContain('Index Scan using idx_runs_kind_queue')
      expect(claimPlans).not.toContain('idx_runs_status_lane')
      expect(claimPlans).not.toMatch(/Seq Scan on runs/)
      await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'planned-any', lane: 'C' }] })
      const any =
        await conn`select id, lease::text as lease from ops.claim_runs('plan-w', '{C}', '{5}', null)`
      expect(any).toHaveLength(1)
      const anyPlans = notices.splice(0).join('\n')
      // No kinds: the queued kinds are found on the same index (a loose scan), then claimed as above
      // (migration 20261130010000 dropped the lane index, which a generic plan could walk for a kind
      // with nothing queued).
      expect(anyPlans).toContain('idx_runs_kind_queue')
      expect(anyPlans).not.toContain('idx_runs_status_lane')
      expect(anyPlans).not.toMatch(/Seq Scan on runs/)
      const done = await conn`
        select id from ops.complete_runs('plan-w', ${conn.json([{ id: claimed[0]?.id, lease: claimed[0]?.lease, result: null }])}::jsonb)`
      expect(done).toHaveLength(1)
      const completePlans = notices.splice(0).join('\n')
      expect(completePlans).toContain('runs_pkey')
      expect(completePlans).not.toMatch(/Seq Scan on runs/)
    } finally {
      await conn.end()
    }
  })

  it('claims several kinds in queue order, at most the lane limit, and no run of another kind', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'kinds' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: [
        ...Array.from({ length: 5 }, () => ({ kind: 'k-other', lane: 'D' as const, priority: 9 })),
        { kind: 'k-a', lane: 'D' as const, priority: 1 },
        { kind: 'k-b', lane: 'D' as const, priority: 5 },
        { kind: 'k-a', lane: 'D' as const, priority: 3 },
        { kind: 'k-b', lane: 'D' as const, priority: 0 },
      ],
    })
    const first = await sql`
      select kind, priority from ops.claim_runs('w-kinds', '{D}', '{3}', '{k-a,k-b,k-a}')`
    expect(first.map((r) => `${r.kind}:${r.priority}`)).toEqual(['k-b:5', 'k-a:3', 'k-a:1'])
    const rest = await sql`select kind, priority from ops.claim_runs('w-kinds', '{D}', '{3}', '{k-a,k-b}')`
    expect(rest.map((r) => `${r.kind}:${r.priority}`)).toEqual(['k-b:0'])
    const [left] = await sql`
      select count(*)::int as n from ops.runs where session_id = ${s.id} and status = 'queued'`
    expect(left?.n).toBe(5)
  })

  it('claims one lane in one statement with the same runs, order and rows as the path for several lanes (migration 20261130010700)', async () => {
    const { client, db, sql } = ctx
    const s = await client.sessions.create({ name: 'one lane' })
    // Two copies of one queue, told apart by their kinds: priorities, ages and kinds interleave, a run
    // is due later, and runs of the same kinds wait in another lane.
    const queue = (copy: string) => {
      const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString()
      const k = (name: string) => `ol${copy}-${name}`
      return [
        { kind: k('a'), lane: 'C' as const, priority: 0, runAt: at(50) },
        { kind: k('b'), lane: 'C' as const, priority: 0, runAt: at(60) },
        { kind: k('a'), lane: 'C' as const, priority: 7, runAt: at(10) },
        { kind: k('c'), lane: 'C' as const, priority: 7, runAt: at(20) },
        { kind: k('b'), lane: 'C' as const, priority: -3, runAt: at(90) },
        { kind: k('a'), lane: 'C' as const, priority: 0, runAt: at(50) },
        {
          kind: k('b'),
          lane: 'C' as const,
          priority: 2,
          runAt: new Date(Date.now() + 600_000).toISOString(),
        },
        { kind: k('a'), lane: 'B' as const, priority: 100, runAt: at(99) },
        { kind: k('c'), lane: 'C' as const, priority: 1, runAt: at(5) },
      ]
    }
    await client.runs.enqueue({ sessionId: s.id, runs: [...queue('1'), ...queue('2')] })
    const drain = async (copy: string) => {
      const kinds = `{ol${copy}-a,ol${copy}-b,ol${copy}-c,ol${copy}-a}`
      const order: string[][] = []
      for (;;) {
        const rows = await sql`select * from ops.claim_runs(${`w-ol${copy}`}, '{C}', '{3}', ${kinds}::text[])`
        if (rows.length === 0) return order
        order.push(rows.map((r) => `${String(r.kind).slice(4)}:${r.priority}:${r.status}:${r.attempt}`))
        for (const r of rows) {
          expect(r.worker_id).toBe(`w-ol${copy}`)
          expect(r.lease).not.toBeNull()
          expect(r.claimed_at).not.toBeNull()
          expect(r.claimed_event_id).not.toBeNull()
        }
      }
    }
    // Nobody watches: the one-statement claim.
    const one = await drain('1')
    // While someone watches, every claim takes the path for several lanes (it sends notifications).
    const l = await listen(db.url, ['ops_run_changes'])
    let several: string[][]
    try {
      several = await drain('2')
    } finally {
      await l.close()
    }
    expect(one).toEqual([
      ['c:7:running:1', 'a:7:running:1', 'c:1:running:1'],
      ['b:0:running:1', 'a:0:running:1', 'a:0:running:1'],
      ['b:-3:running:1'],
    ])
    expect(several).toEqual(one)
    // A lane limit of 0 claims nothing.
    await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'ol1-a', lane: 'C' }] })
    expect(await sql`select id from ops.claim_runs('w-ol1', '{C}', '{0}', '{ol1-a}')`).toHaveLength(0)
    await sql`delete from ops.sessions where id = ${s.id}`
  })

  it('reads no queued run of another kind for a served kind with nothing queued, with statistics current (migration 20261130010000)', async () => {
    const { client, db, sql } = ctx
    const s = await client.sessions.create({ name: 'empty kind' })
    // A worker serves two kinds; 3,000 runs of one are queued and none of the other. With the table
    // analyzed, the generic plan once read the lane index for the empty kind and filtered all 3,000.
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 3000 }, () => ({ kind: 'k-busy', lane: 'B' as const })),
    })
    await sql`analyze ops.runs`
    const notices: string[] = []
    const conn = postgres(db.url, { max: 1, onnotice: (n) => notices.push(String(n.message)) })
    try {
      await conn`load 'auto_explain'`
      await conn`set auto_explain.log_min_duration = 0`
      await conn`set auto_explain.log_nested_statements = on`
      await conn`set auto_explain.log_analyze = on`
      await conn`set auto_explain.log_level = notice`
      await conn`set client_min_messages = notice`
      for (const kinds of ['{k-busy,k-idle}', null]) {
        const claimed = await conn`select id from ops.claim_runs('w-empty', '{B}', '{10}', ${kinds}::text[])`
        expect(claimed).toHaveLength(10)
        const plans = notices.splice(0).join('\n')
        expect(plans).toContain('idx_runs_kind_queue')
        expect(plans).not.toMatch(/Seq Scan on runs/)
        const removed = [...plans.matchAll(/Rows Removed by Filter: (\d+)/g)].map((m) => Number(m[1]))
        expect(Math.max(0, ...removed)).toBeLessThan(100)
      }
    } finally {
      await conn.end()
      await sql`delete from ops.sessions where id = ${s.id}`
    }
  })

  it('still enforces every rule of a run, and a broken one names its rule', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'invariants' })
    const [run] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'ruled', lane: 'D' }] })
    const broken: [string, string][] = [
      [`kind = 'Bad Kind'`, 'runs_kind_format'],
      [`kind = repeat('k', 101)`, 'runs_kind_format'],
      ['priority = 1001', 'runs_priority_range'],
      [`params = '[]'`, 'runs_params_object'],
      ['attempt = 2', 'runs_attempt_range'],
      ['max_attempts = 101, attempt = 0', 'runs_max_attempts_range'],
      ['timeout_seconds = 0', 'runs_timeout_range'],
      [`idempotency_key = ''`, 'runs_idempotency_key_length'],
      [`template_name = 'orphan'`, 'runs_template_pair'],
      ['progress = 1.5', 'runs_progress_range'],
      [`progress_message = repeat('m', 501)`, 'runs_progress_message_length'],
      [`error = '{"type": "x"}'`, 'runs_error_shape'],
      [`status = 'running'`, 'runs_running_has_owner'],
      [`worker_id = 'w'`, 'runs_queued_has_no_owner'],
      [`status = 'succeeded'`, 'runs_terminal_has_finished_at'],
      [`status = 'failed', finished_at = now()`, 'runs_failed_has_error'],
      [`status = 'cancelled', finished_at = now()`, 'runs_queue_membership'],
      ['cancel_requested_at = now()', 'runs_queue_membership'],
    ]
    for (const [set, rule] of broken) {
      const err = await sql.unsafe(`update ops.runs set ${set} where id = $1`, [run?.id as string]).then(
        () => null,
        (e: postgres.PostgresError) => e,
      )
      expect({ set, code: err?.code, constraint: err?.constraint_name }).toEqual({
        set,
        code: '23514',
        constraint: rule,
      })
    }
    // Nothing was written: the run is as enqueued, and valid changes still go through.
    const [row] = await sql`select kind, status, priority from ops.runs where id = ${run?.id as string}`
    expect(row).toEqual({ kind: 'ruled', status: 'queued', priority: 0 })
    await sql`update ops.runs set priority = 5, progress = 0.5 where id = ${run?.id as string}`
  })
})
