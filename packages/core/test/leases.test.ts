import { isOpsError, type Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const held = (run: Run) => ({ id: run.id, lease: run.lease as string })

async function claimOne(kind: string, workerId: string): Promise<Run> {
  const [run] = await ctx.client.worker.claim({ workerId, lanes: { A: 1 }, kinds: [kind] })
  expect(run?.lease).toMatch(/^[0-9]+$/)
  return run as Run
}

/** Claims a run (attempt 1), recovers it as the sweeper would, and claims it again with the same worker id. */
async function staleAndCurrent(kind: string, maxAttempts = 3) {
  const session = await ctx.client.sessions.create({ name: kind })
  await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind, maxAttempts }] })
  const stale = await claimOne(kind, 'same-worker')
  await ctx.sql`update ops.runs set heartbeat_at = now() - interval '1 hour' where id = ${stale.id}`
  await ctx.client.worker.recoverStuck({ timeoutSeconds: 60 })
  const current = await claimOne(kind, 'same-worker')
  expect(current).toMatchObject({ id: stale.id, attempt: 2 })
  return { stale, current }
}

describe('fenced leases in SQL', () => {
  it('issues a new lease per claim, never reused, even when a release gives the attempt back', async () => {
    const session = await ctx.client.sessions.create({ name: 'leases' })
    await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'lease-unique' }] })
    const first = await claimOne('lease-unique', 'w')
    const [released] = await ctx.client.worker.release({ workerId: 'w', runs: [held(first)] })
    expect(released).toMatchObject({ status: 'queued', attempt: 0 })
    const second = await claimOne('lease-unique', 'w')
    expect(second.attempt).toBe(first.attempt)
    expect(BigInt(second.lease as string)).toBeGreaterThan(BigInt(first.lease as string))
    // The released lease is spent: it can no longer settle the run that now has attempt 1 again.
    expect(
      await ctx.client.worker.complete({ workerId: 'w', results: [{ ...held(first), result: 1 }] }),
    ).toEqual([])
  })

  it('settles only the current lease when one batch carries a stale execution and its successor', async () => {
    const { stale, current } = await staleAndCurrent('lease-batch')
    for (const results of [
      [
        { ...held(stale), result: 'stale' },
        { ...held(current), result: 'current' },
      ],
      [
        { ...held(current), result: 'current' },
        { ...held(stale), result: 'stale' },
      ],
    ]) {
      await ctx.sql`update ops.runs set status = 'running', finished_at = null, result = null where id = ${current.id}`
      const settled = await ctx.client.worker.complete({ workerId: 'same-worker', results })
      expect(settled).toHaveLength(1)
      expect(settled[0]).toMatchObject({
        id: current.id,
        lease: current.lease,
        status: 'succeeded',
        result: 'current',
      })
    }
  })

  it('refuses every write of a stale lease, even from the same worker id, and writes nothing', async () => {
    const { stale, current } = await staleAndCurrent('lease-stale')
    const w = 'same-worker'
    expect(
      await ctx.client.worker.complete({ workerId: w, results: [{ ...held(stale), result: 'stale' }] }),
    ).toEqual([])
    expect(
      await ctx.client.worker.fail({
        workerId: w,
        failures: [{ ...held(stale), error: { type: 'x', message: 'stale' } }],
      }),
    ).toEqual([])
    expect(await ctx.client.worker.release({ workerId: w, runs: [held(stale)] })).toEqual([])
    expect(
      await ctx.client.worker.progress({ workerId: w, updates: [{ ...held(stale), progress: 0.5 }] }),
    ).toBe(0)
    expect(
      await ctx.client.worker.appendEvents({
        events: [{ runId: stale.id, lease: stale.lease as string, message: 'stale' }],
      }),
    ).toBe(0)
    const err = await ctx.client.worker
      .createArtifacts({
        artifacts: [{ runId: stale.id, lease: stale.lease as string, name: 'x', kind: 'text', text: 'x' }],
      })
      .catch((e) => e)
    expect(isOpsError(err) && err.code).toBe('lease_lost')
    expect(await ctx.client.worker.heartbeat({ workerId: w, runs: [held(stale), held(current)] })).toEqual({
      cancel: [],
      lost: [held(stale)],
    })
    const run = await ctx.client.runs.get(stale.id)
    expect(run).toMatchObject({
      status: 'running',
      attempt: 2,
      lease: current.lease,
      progress: null,
      result: null,
    })
    expect(await ctx.client.artifacts.list({ runId: stale.id })).toEqual([])
    // The current lease works, and its writes carry attempt 2.
    expect(
      await ctx.client.worker.appendEvents({
        events: [{ runId: current.id, lease: current.lease as string, message: 'ok' }],
      }),
    ).toBe(1)
    const [done] = await ctx.client.worker.complete({
      workerId: w,
      results: [{ ...held(current), result: 'current' }],
    })
    expect(done).toMatchObject({ status: 'succeeded', result: 'current', attempt: 2 })
    const history = await ctx.client.events.list({ runId: stale.id })
    expect(history.map((e) => [e.type, e.attempt])).toEqual([
      ['run:enqueued', null],
      ['run:claimed', 1],
      ['run:recovered', 1],
      ['run:claimed', 2],
      ['log', 2],
      ['run:succeeded', 2],
    ])
  })

  it('a cancel that races a claim reaches the claimed execution, by lease', async () => {
    const session = await ctx.client.sessions.create({ name: 'race' })
    const runs = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 50 }, () => ({ kind: 'lease-race' })),
    })
    const [claimed, cancelled] = await Promise.all([
      ctx.client.worker.claim({ workerId: 'racer', lanes: { A: 50 }, kinds: ['lease-race'] }),
      ctx.client.runs.cancelMany({ ids: runs.map((r) => r.id) }),
    ])
    expect(cancelled).toBeDefined()
    // Every run ends either cancelled while queued, or running with a cancel request for its lease.
    const beat = await ctx.client.worker.heartbeat({ workerId: 'racer', runs: claimed.map(held) })
    expect(beat.lost).toEqual([])
    expect(beat.cancel.map((h) => h.lease).sort()).toEqual(claimed.map((r) => r.lease).sort())
    const acked = claimed.length
      ? await ctx.client.worker.ackCancel({ workerId: 'racer', runs: claimed.map(held) })
      : []
    expect(acked.map((r) => r.status)).toEqual(claimed.map(() => 'cancelled'))
    const statuses = await Promise.all(runs.map(async (r) => (await ctx.client.runs.get(r.id)).status))
    expect(new Set(statuses)).toEqual(new Set(['cancelled']))
  })

  it('a recovered run keeps its place in the queue and marks its silent worker stopped', async () => {
    const session = await ctx.client.sessions.create({ name: 'place' })
    const [old] = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'lease-place', maxAttempts: 2 }],
    })
    await ctx.client.worker.heartbeat({ workerId: 'silent', runs: [] })
    const claimed = await claimOne('lease-place', 'silent')
    await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'lease-place' }] })
    await ctx.sql`update ops.runs set heartbeat_at = now() - interval '1 hour' where id = ${claimed.id}`
    await ctx.sql`update ops.workers set last_seen_at = now() - interval '1 hour' where id = 'silent'`
    await ctx.client.worker.recoverStuck({ timeoutSeconds: 60 })
    const next = await claimOne('lease-place', 'other')
    expect(next.id).toBe(old?.id)
    const silent = (await ctx.client.workers.list()).find((w) => w.id === 'silent')
    expect(silent?.stoppedAt).not.toBeNull()
  })
})
