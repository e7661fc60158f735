import { ValidationError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('stats.laneHistory (ops.lane_history)', () => {
  it('rebuilds queued depth per lane and finished/failed per bucket from the runs', async () => {
    const { client, sql } = ctx
    const s = await client.sessions.create({ name: 'history' })
    const other = await client.sessions.create({ name: 'elsewhere' })
    const [r1, r2, r3, r4, r5, r6] = await client.runs.enqueue({
      sessionId: s.id,
      runs: [
        { kind: 'h', lane: 'A' },
        { kind: 'h', lane: 'B' },
        { kind: 'h', lane: 'A' },
        { kind: 'h', lane: 'C' },
        { kind: 'h', lane: 'D' },
        { kind: 'h', lane: 'D' },
      ],
    })
    await client.runs.enqueue({ sessionId: other.id, runs: [{ kind: 'h', lane: 'A' }] })
    // A window of 600 s in 10 buckets of 60 s: bucket i is [now-600+60i, now-540+60i). No time is
    // within seconds of a bucket's edge.
    const at = (id: string | undefined, set: string) =>
      sql.unsafe(`update ops.runs set ${set} where id = $1`, [id as string])
    const ago = (s: number) => `now() - interval '${s} seconds'`
    // r1 (A): queued before the window, started 310 s ago (bucket 4), succeeded 200 s ago (bucket 6).
    await at(
      r1?.id,
      `created_at = ${ago(900)}, started_at = ${ago(310)}, claimed_at = ${ago(310)},
      status = 'succeeded', worker_id = 'w', finished_at = ${ago(200)}, updated_at = ${ago(200)}, attempt = 1`,
    )
    // r2 (B): created 130 s ago (bucket 7), still queued.
    await at(r2?.id, `created_at = ${ago(130)}, updated_at = ${ago(130)}`)
    // r3 (A): ran long ago, retried 50 s ago (bucket 9): queued again since then.
    await at(
      r3?.id,
      `created_at = ${ago(1000)}, started_at = ${ago(950)}, updated_at = ${ago(50)}, attempt = 1,
      max_attempts = 2`,
    )
    // r4 (C): created 400 s ago (bucket 3), cancelled while queued 250 s ago (bucket 5).
    await at(
      r4?.id,
      `created_at = ${ago(400)}, status = 'cancelled', finished_at = ${ago(250)},
      cancel_requested_at = ${ago(250)}, updated_at = ${ago(250)}`,
    )
    // r5 (D): created and started within bucket 8, failed 20 s ago (bucket 9).
    await at(
      r5?.id,
      `created_at = ${ago(100)}, started_at = ${ago(90)}, claimed_at = ${ago(90)}, attempt = 1,
      status = 'failed', worker_id = 'w', error = '{"type":"E","message":"x"}', finished_at = ${ago(20)}, updated_at = ${ago(20)}`,
    )
    // r6 (D): all of it before the window: no trace in it.
    await at(
      r6?.id,
      `created_at = ${ago(5000)}, started_at = ${ago(4900)}, claimed_at = ${ago(4900)}, attempt = 1,
      status = 'succeeded', worker_id = 'w', finished_at = ${ago(4800)}, updated_at = ${ago(4800)}`,
    )

    // Five runs of one enqueue (one created_at): counted as one group of five, in the last bucket.
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 5 }, () => ({ kind: 'h', lane: 'C' as const })),
    })

    const h = await client.stats.laneHistory({ sessionId: s.id, windowSeconds: 600, buckets: 10 })
    expect(h.windowSeconds).toBe(600)
    expect(h.buckets).toBe(10)
    expect(h.queued).toEqual({
      A: [1, 1, 1, 1, 0, 0, 0, 0, 0, 1],
      B: [0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      C: [0, 0, 0, 1, 1, 0, 0, 0, 0, 5],
      D: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    })
    expect(h.finished).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 1])
    expect(h.failed).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    // The last bucket is the live count, so a chart extends it without a jump.
    const live = await client.stats.session({ sessionId: s.id })
    expect((['A', 'B', 'C', 'D'] as const).map((l) => h.queued[l][9])).toEqual(
      (['A', 'B', 'C', 'D'] as const).map((l) => live.lanes[l].queued),
    )
    // Every run: the other session's queued run adds to lane A's present.
    const all = await client.stats.laneHistory({ windowSeconds: 600, buckets: 10 })
    expect(all.queued.A[9]).toBeGreaterThanOrEqual(2)

    await expect(client.stats.laneHistory({ windowSeconds: 59 })).rejects.toBeInstanceOf(ValidationError)
    await expect(client.stats.laneHistory({ buckets: 241 })).rejects.toBeInstanceOf(ValidationError)
    await expect(sql`select ops.lane_history(null, 100000, 10)`).rejects.toMatchObject({ code: 'OPVAL' })
    await expect(sql`select ops.lane_history(null, 600, 0)`).rejects.toMatchObject({ code: 'OPVAL' })
  })
})
