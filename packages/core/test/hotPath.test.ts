import type { Change } from '@ops-control-room/core'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

/** Collects raw NOTIFY payloads on the given channels. */
async function listen(url: string, channels: string[]) {
  const conn = postgres(url, { max: 1, onnotice: () => {} })
  const got: { channel: string; payload: unknown }[] = []
  for (const channel of channels) {
    await conn.listen(channel, (payload) => got.push({ channel, payload: JSON.parse(payload) }))
  }
  return { got, close: () => conn.end() }
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
      await client.worker.complete({ workerId: 'w-hot', results: claimed.map((r) => ({ id: r.id })) })
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

  it('keeps primary-key lookups for running-run filters, and the sweep on idx_runs_heartbeat', async () => {
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
    expect(settle).not.toContain('idx_runs_heartbeat')
    // The shape of recover_stuck_runs.
    const sweep = await plan(
      `select id from ops.runs r where r.status = 'running' and r.heartbeat_at < now() - interval '30 seconds'`,
    )
    expect(sweep).toContain('idx_runs_heartbeat')
  })
})
