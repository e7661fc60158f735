import { LANES } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('claiming', () => {
  it('claims every run exactly once with 8 concurrent claimers over 2,000 runs', async () => {
    const { client, sql } = ctx
    const session = await client.sessions.create({ name: 'atomic claim' })
    const specs = Array.from({ length: 2000 }, (_, i) => ({ kind: 'noop', lane: LANES[i % 4] }))
    await client.runs.enqueue({ sessionId: session.id, runs: specs })

    const claimedBy = new Map<string, string[]>()
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const workerId = `claimer-${w}`
        for (;;) {
          const runs = await client.worker.claim({
            workerId,
            lanes: { A: 7, B: 7, C: 7, D: 7 },
            kinds: ['noop'],
          })
          if (runs.length === 0) break
          for (const r of runs) claimedBy.set(r.id, [...(claimedBy.get(r.id) ?? []), workerId])
        }
      }),
    )
    expect(claimedBy.size).toBe(2000)
    const doubles = [...claimedBy.values()].filter((ws) => ws.length > 1)
    expect(doubles).toEqual([])
    const [row] =
      await sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status = 'running' and attempt = 1`
    expect(row?.n).toBe(2000)
    const [ev] =
      await sql`select count(*)::int as n from ops.runs r cross join lateral ops.run_history(r.id) e where r.session_id = ${session.id} and e.type = 'run:claimed'`
    expect(ev?.n).toBe(2000)
  })

  it('claims by priority, then age, within the lanes and kinds asked for', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'order' })
    const [low, high, mid1, mid2, otherLane, otherKind] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'order', lane: 'B', priority: -5 },
        { kind: 'order', lane: 'B', priority: 10 },
        { kind: 'order', lane: 'B', priority: 0 },
        { kind: 'order', lane: 'B', priority: 0 },
        { kind: 'order', lane: 'C', priority: 100 },
        { kind: 'other', lane: 'B', priority: 100 },
      ],
    })
    const claimed = await client.worker.claim({ workerId: 'w', lanes: { B: 10 }, kinds: ['order'] })
    expect(claimed.map((r) => r.id)).toEqual([high?.id, mid1?.id, mid2?.id, low?.id])
    const rest = await client.runs.list({ sessionId: session.id, status: 'queued' })
    expect(rest.map((r) => r.id).sort()).toEqual([otherLane?.id, otherKind?.id].sort())
  })

  it('does not claim runs whose run_at is in the future', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'later' })
    const later = new Date(Date.now() + 60_000).toISOString()
    await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'later', runAt: later }] })
    expect(await client.worker.claim({ workerId: 'w', lanes: { A: 5 }, kinds: ['later'] })).toEqual([])
    const [now] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'later' }] })
    const claimed = await client.worker.claim({ workerId: 'w', lanes: { A: 5 }, kinds: ['later'] })
    expect(claimed.map((r) => r.id)).toEqual([now?.id])
  })

  it('respects per-lane limits in one round trip', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'limits' })
    await client.runs.enqueue({
      sessionId: session.id,
      runs: LANES.flatMap((lane) => Array.from({ length: 5 }, () => ({ kind: 'limits', lane }))),
    })
    const claimed = await client.worker.claim({
      workerId: 'w',
      lanes: { A: 1, B: 2, C: 0, D: 3 },
      kinds: ['limits'],
    })
    const byLane = Object.fromEntries(LANES.map((l) => [l, claimed.filter((r) => r.lane === l).length]))
    expect(byLane).toEqual({ A: 1, B: 2, C: 0, D: 3 })
    expect(claimed.every((r) => r.status === 'running' && r.workerId === 'w' && r.attempt === 1)).toBe(true)
  })
})
