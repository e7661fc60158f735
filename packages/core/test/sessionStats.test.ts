import { ValidationError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('stats.session: aggregates from the database', () => {
  it('counts every run of a session per lane and status, whatever was loaded', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'stats' })
    const other = await client.sessions.create({ name: 'other' })
    await client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 1200 }, (_, i) => ({
        kind: 'st',
        lane: (['A', 'B', 'C', 'D'] as const)[i % 4],
      })),
    })
    await client.runs.enqueue({ sessionId: other.id, runs: [{ kind: 'st', lane: 'A' }] })
    const claimed = await client.worker.claim({ workerId: 'w-stats', lanes: { A: 10, B: 4 }, kinds: ['st'] })
    const ofSession = claimed.filter((r) => r.sessionId === session.id)
    const [first, second, ...rest] = ofSession
    await client.worker.complete({
      workerId: 'w-stats',
      results: rest.map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    await client.worker.fail({
      workerId: 'w-stats',
      failures: [
        {
          id: first!.id,
          lease: first!.lease as string,
          error: { type: 'Boom', message: 'no' },
          retry: false,
        },
      ],
    })

    const stats = await client.stats.session({ sessionId: session.id, windowSeconds: 60, buckets: 6 })
    const other1 = claimed.length - ofSession.length
    expect(stats.total).toBe(1200)
    expect(stats.byStatus).toEqual({
      queued: 1200 - ofSession.length,
      running: 1,
      succeeded: rest.length,
      failed: 1,
      cancelled: 0,
    })
    expect(Object.values(stats.lanes).map((l) => Object.values(l).reduce((a, b) => a + b))).toEqual([
      300, 300, 300, 300,
    ])
    expect(stats.finishedInWindow).toBe(rest.length + 1)
    expect(stats.failedInWindow).toBe(1)
    expect(stats.errorRate).toBeCloseTo(1 / (rest.length + 1))
    expect(stats.throughputPerMinute).toBe(rest.length + 1)
    expect(stats.series).toHaveLength(6)
    expect(stats.series.reduce((n, b) => n + b.finished, 0)).toBe(rest.length + 1)
    expect(second?.status).toBe('running')
    expect(other1).toBeGreaterThanOrEqual(0)

    const all = await client.stats.session()
    expect(all.sessionId).toBeNull()
    expect(all.total).toBe(1201)
  })

  it('answers an unknown session with zeros, and refuses a bad window', async () => {
    const stats = await ctx.client.stats.session({ sessionId: crypto.randomUUID() })
    expect(stats.total).toBe(0)
    expect(stats.errorRate).toBeNull()
    await expect(ctx.client.stats.session({ windowSeconds: 0 })).rejects.toBeInstanceOf(ValidationError)
  })
})

describe('runs.retry: a new attempt of the same run', () => {
  it('requeues failed and cancelled runs, keeps the ended attempt in an event, leaves others alone', async () => {
    const { client, sql } = ctx
    const session = await client.sessions.create({ name: 'retry' })
    const [failing, cancelled, done, queued] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'rt-fail', lane: 'D' },
        { kind: 'rt-cancel', lane: 'D' },
        { kind: 'rt-done', lane: 'D' },
        { kind: 'rt-queued', lane: 'D' },
      ],
    })
    const held = await client.worker.claim({
      workerId: 'w-retry',
      lanes: { D: 10 },
      kinds: ['rt-fail', 'rt-done'],
    })
    const lease = (id: string) => held.find((r) => r.id === id)?.lease as string
    await client.worker.fail({
      workerId: 'w-retry',
      failures: [
        {
          id: failing!.id,
          lease: lease(failing!.id),
          error: { type: 'Boom', message: 'first attempt', stack: 'at x' },
        },
      ],
    })
    await client.worker.complete({ workerId: 'w-retry', results: [{ id: done!.id, lease: lease(done!.id) }] })
    await client.runs.cancel(cancelled!.id, 'not now')

    const result = await client.runs.retry({
      ids: [failing!.id, cancelled!.id, done!.id, queued!.id, crypto.randomUUID()],
    })
    const byId = new Map(result.map((r) => [r.id, r]))
    expect(result).toHaveLength(4)
    const retried = byId.get(failing!.id)!
    expect(retried).toMatchObject({
      status: 'queued',
      workerId: null,
      error: null,
      finishedAt: null,
      attempt: 1,
    })
    expect(retried.maxAttempts).toBe(2)
    expect(byId.get(cancelled!.id)).toMatchObject({
      status: 'queued',
      cancelReason: null,
      cancelRequestedAt: null,
    })
    expect(byId.get(done!.id)?.status).toBe('succeeded')
    expect(byId.get(queued!.id)?.status).toBe('queued')

    const events = await client.events.list({ runId: failing!.id })
    const ev = events.find((e) => e.type === 'run:retried')
    expect(ev?.data).toMatchObject({
      attempt: 1,
      previous_status: 'failed',
      error: { type: 'Boom', message: 'first attempt', stack: 'at x' },
    })

    // The new attempt is claimable and counts as attempt 2.
    const [again] = await client.worker.claim({ workerId: 'w-retry', lanes: { D: 1 }, kinds: ['rt-fail'] })
    expect(again).toMatchObject({ id: failing!.id, attempt: 2, status: 'running' })
    const [row] = await sql`select count(*)::int as n from ops.run_events where type = 'run:retried'`
    expect(row?.n).toBe(2)
  })

  it('is refused to anon and validated before any I/O', async () => {
    const { sql } = ctx
    const [row] =
      await sql`select has_function_privilege('anon', 'ops.retry_runs(uuid[], timestamptz)', 'execute') as ok`
    expect(row?.ok).toBe(false)
    await expect(ctx.client.runs.retry({ ids: ['nope'] })).rejects.toBeInstanceOf(ValidationError)
  })
})

describe('runs.list: cursors and filters', () => {
  it('pages back by beforeSeq, reads rows by id, filters by worker, text and time', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'paging' })
    const runs = await client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 25 }, (_, i) => ({
        kind: 'pg',
        lane: 'B',
        params: { n: i, tag: i === 7 ? 'needle_%' : 'hay' },
      })),
    })
    const page1 = await client.runs.list({ sessionId: session.id, limit: 10 })
    const page2 = await client.runs.list({ sessionId: session.id, limit: 10, beforeSeq: page1.at(-1)!.seq })
    const page3 = await client.runs.list({ sessionId: session.id, limit: 10, beforeSeq: page2.at(-1)!.seq })
    expect([...page1, ...page2, ...page3].map((r) => r.id)).toEqual(runs.map((r) => r.id).reverse())
    const some = [runs[3]!.id, runs[9]!.id]
    expect((await client.runs.list({ ids: some })).map((r) => r.id).sort()).toEqual([...some].sort())
    expect((await client.runs.list({ sessionId: session.id, search: 'NEEDLE_%' })).map((r) => r.id)).toEqual([
      runs[7]!.id,
    ])
    expect(await client.runs.list({ sessionId: session.id, search: 'needle_x' })).toEqual([])
    await client.worker.claim({ workerId: 'w-page', lanes: { B: 2 }, kinds: ['pg'] })
    expect(await client.runs.list({ sessionId: session.id, workerId: 'w-page' })).toHaveLength(2)
    expect(
      await client.runs.list({
        sessionId: session.id,
        createdAfter: new Date(Date.now() + 60_000).toISOString(),
      }),
    ).toEqual([])
    // Rows carry milliseconds, the database microseconds: a millisecond later than the enqueue.
    const since = new Date(Date.parse(page1[0]!.updatedAt) + 1).toISOString()
    const window = await client.runs.list({
      sessionId: session.id,
      afterSeq: runs[0]!.seq - 1,
      updatedAfter: since,
    })
    expect(window.map((r) => r.status)).toEqual(['running', 'running'])
    const other = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'pg', lane: 'D' }] })
    const perLane = await client.runs.list({ sessionId: session.id, limit: 3, perLane: true })
    expect(perLane.map((r) => `${r.lane}${r.seq}`)).toEqual([
      ...runs
        .slice(-3)
        .map((r) => `B${r.seq}`)
        .reverse(),
      `D${other[0]!.seq}`,
    ])
    await expect(client.runs.list({ afterSeq: 1, beforeSeq: 2 })).rejects.toBeInstanceOf(ValidationError)
  })
})

describe('sessions.list: search and paging', () => {
  it('finds sessions by name and pages back by cursor', async () => {
    const { client } = ctx
    for (let i = 0; i < 5; i++) await client.sessions.create({ name: `paging-needle ${i}` })
    const found = await client.sessions.list({ search: 'PAGING-needle', limit: 3 })
    expect(found.map((s) => s.name)).toEqual(['paging-needle 4', 'paging-needle 3', 'paging-needle 2'])
    const more = await client.sessions.list({
      search: 'paging-needle',
      limit: 3,
      cursor: found.at(-1)!.cursor,
    })
    expect(more.map((s) => s.name)).toEqual(['paging-needle 1', 'paging-needle 0'])
  })

  it('pages through sessions created in the same instant with no skip and no repeat', async () => {
    const { client, sql } = ctx
    // One statement: every row has the same now(), to the microsecond. Then a few a microsecond
    // apart within one millisecond, which a millisecond cursor cannot tell apart either.
    await sql`insert into ops.sessions (name) select 'same-instant ' || g from generate_series(1, 57) g`
    await sql`
      insert into ops.sessions (name, created_at)
      select 'same-instant micro ' || g, date_trunc('milliseconds', now()) - interval '1 second' + g * interval '1 microsecond'
      from generate_series(1, 9) g`
    const seen: string[] = []
    let cursor: string | undefined
    for (let pages = 0; pages < 100; pages++) {
      const page = await client.sessions.list({
        search: 'same-instant',
        limit: 4,
        ...(cursor ? { cursor } : {}),
      })
      seen.push(...page.map((s) => s.name))
      if (page.length < 4) break
      cursor = page.at(-1)!.cursor
      expect(cursor).toEqual(expect.any(String))
    }
    expect(seen).toHaveLength(66)
    expect(new Set(seen).size).toBe(66)
    // Newest first: the 57 of the one insert, then the microsecond ones, newest first.
    expect(seen.slice(57)).toEqual(Array.from({ length: 9 }, (_, i) => `same-instant micro ${9 - i}`))
  })

  it('refuses a cursor it did not make with a ValidationError', async () => {
    const { client } = ctx
    for (const cursor of [
      'nope',
      btoa('s1|2026-02-31T00:00:00.000000Z|0b9c6a52-6f0e-4d55-9e43-2b1f5d0c1a7e'),
    ]) {
      await expect(client.sessions.list({ cursor })).rejects.toBeInstanceOf(ValidationError)
    }
  })
})
