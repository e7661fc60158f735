import { MAX_BULK_RUNS, ValidationError } from '@ops-control-room/core'
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
})
