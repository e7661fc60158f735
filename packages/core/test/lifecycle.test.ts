import { isOpsError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

async function freshRun(opts: { maxAttempts?: number; kind?: string } = {}) {
  const { client } = ctx
  const kind = opts.kind ?? `k${Math.random().toString(36).slice(2, 8)}`
  const session = await client.sessions.create({ name: 'lifecycle' })
  const [run] = await client.runs.enqueue({
    sessionId: session.id,
    runs: [{ kind, maxAttempts: opts.maxAttempts }],
  })
  const [claimed] = await client.worker.claim({ workerId: 'w1', lanes: { A: 1 }, kinds: [kind] })
  expect(claimed?.id).toBe(run?.id)
  return claimed as NonNullable<typeof claimed>
}

/** The run and the lease its claim issued, as worker-side writes name them. */
function held(run: { id: string; lease: string | null } | undefined) {
  return { id: run?.id as string, lease: run?.lease as string }
}

async function eventTypes(runId: string) {
  return (await ctx.client.events.list({ runId })).map((e) => e.type)
}

/** Makes a running run look as if its worker went silent `seconds` ago. */
async function ageHeartbeat(runId: string, seconds: number) {
  await ctx.sql`update ops.runs set heartbeat_at = now() - make_interval(secs => ${seconds}) where id = ${runId}`
}

describe('heartbeats and cancellation', () => {
  it('refreshes heartbeats, registers the worker and returns cancel requests and lost runs', async () => {
    const { client } = ctx
    const run = await freshRun()
    const other = await freshRun()
    await ageHeartbeat(run.id, 10)
    const before = await client.runs.get(run.id)
    const beat = await client.worker.heartbeat({
      workerId: 'w1',
      runs: [held(run), held(other)],
      info: { host: 'test-host', lanes: ['A', 'B'], kinds: ['x'], concurrency: { A: 2 } },
    })
    expect(beat).toEqual({ cancel: [], lost: [] })
    const after = await client.runs.get(run.id)
    expect(Date.parse(after.heartbeatAt ?? '')).toBeGreaterThan(Date.parse(before.heartbeatAt ?? ''))
    const workers = await client.workers.list()
    expect(workers.find((w) => w.id === 'w1')).toMatchObject({
      host: 'test-host',
      lanes: ['A', 'B'],
      kinds: ['x'],
    })

    const cancelled = await client.runs.cancel(run.id, 'operator said so')
    expect(cancelled.status).toBe('running')
    expect(cancelled.cancelRequestedAt).not.toBeNull()
    // A heartbeat that names a lease the run does not hold reports it lost.
    const forged = { id: other.id, lease: '1' }
    expect(await client.worker.heartbeat({ workerId: 'w2', runs: [forged] })).toEqual({
      cancel: [],
      lost: [forged],
    })
    expect(await client.worker.heartbeat({ workerId: 'w1', runs: [held(run), held(other)] })).toEqual({
      cancel: [held(run)],
      lost: [],
    })

    const [acked] = await client.worker.ackCancel({ workerId: 'w1', runs: [held(run)] })
    expect(acked?.status).toBe('cancelled')
    expect(await eventTypes(run.id)).toEqual([
      'run:enqueued',
      'run:claimed',
      'run:cancel_requested',
      'run:cancelled',
    ])
  })

  it('cancels a queued run at once and leaves finished runs alone', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'cancel queued' })
    const [queued] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'never' }] })
    const cancelled = await client.runs.cancel(queued?.id as string)
    expect(cancelled).toMatchObject({ status: 'cancelled' })
    expect(cancelled.finishedAt).not.toBeNull()
    expect(await client.worker.claim({ workerId: 'w', lanes: { A: 5 }, kinds: ['never'] })).toEqual([])
    const again = await client.runs.cancel(queued?.id as string)
    expect(again.status).toBe('cancelled')
    expect(await eventTypes(queued?.id as string)).toEqual(['run:enqueued', 'run:cancelled'])
  })

  it('sends a cancel notification to listeners of a running run', async () => {
    const { client } = ctx
    const run = await freshRun()
    const seen: unknown[] = []
    const stop = await client.subscribe((c) => {
      if (c.type === 'cancel') seen.push(c)
    })
    try {
      await client.runs.cancel(run.id)
      await expect
        .poll(() => seen, { timeout: 5000 })
        .toEqual([{ type: 'cancel', runId: run.id, workerId: 'w1', lease: run.lease }])
    } finally {
      await stop()
    }
  })

  it('rejects a cancel of an unknown run with not_found', async () => {
    const err = await ctx.client.runs.cancel('00000000-0000-4000-8000-000000000000').catch((e) => e)
    expect(isOpsError(err) && err.code).toBe('not_found')
  })
})

describe('completion, failure and retries', () => {
  it('completes a run with its result, once, and only under its lease', async () => {
    const { client } = ctx
    const run = await freshRun()
    expect(
      await client.worker.complete({
        workerId: 'intruder',
        results: [{ id: run.id, lease: '1', result: 1 }],
      }),
    ).toEqual([])
    const [done] = await client.worker.complete({
      workerId: 'w1',
      results: [{ ...held(run), result: { ok: true } }],
    })
    expect(done).toMatchObject({ status: 'succeeded', result: { ok: true } })
    expect(await client.worker.complete({ workerId: 'w1', results: [{ ...held(run), result: 2 }] })).toEqual(
      [],
    )
    expect((await client.runs.get(run.id)).result).toEqual({ ok: true })
  })

  it("answers only what changed with returning: 'changes', and nothing for a stale lease", async () => {
    const { client } = ctx
    const run = await freshRun()
    // Changed while the run was held: the answer must carry it.
    expect(
      await client.worker.progress({
        workerId: 'w1',
        updates: [{ ...held(run), progress: 0.5, message: 'half' }],
      }),
    ).toBe(1)
    const [changes] = await client.worker.complete({
      workerId: 'w1',
      results: [{ ...held(run), result: { n: 1 } }],
      returning: 'changes',
    })
    const stored = await client.runs.get(run.id)
    expect(Object.keys(changes ?? {}).sort()).toEqual([
      'cancelReason',
      'cancelRequestedAt',
      'error',
      'finishedAt',
      'heartbeatAt',
      'id',
      'lease',
      'progress',
      'progressMessage',
      'result',
      'status',
      'updatedAt',
    ])
    // Merged over the run as claimed, the answer is the stored run.
    expect({ ...run, ...changes }).toEqual(stored)
    expect(
      await client.worker.complete({
        workerId: 'w1',
        results: [{ ...held(run), result: 2 }],
        returning: 'changes',
      }),
    ).toEqual([])
    await expect(
      client.worker.complete({ workerId: 'w1', results: [{ ...held(run) }], returning: 'all' as never }),
    ).rejects.toMatchObject({ code: 'validation' })
  })

  it('retries with exponential backoff while attempts remain, then fails with the structured error', async () => {
    const { client, sql } = ctx
    const run = await freshRun({ maxAttempts: 3 })
    const error = {
      type: 'boom',
      message: 'it broke',
      stack: 'Error: it broke\n    at x',
      context: { step: 2 },
    }
    const [first] = await client.worker.fail({ workerId: 'w1', failures: [{ ...held(run), error }] })
    expect(first).toMatchObject({ status: 'queued', attempt: 1, workerId: null, error })
    const delay1 = Date.parse(first?.runAt ?? '') - Date.parse(first?.updatedAt ?? '')
    expect(delay1).toBeGreaterThanOrEqual(900)
    expect(delay1).toBeLessThan(1500)
    // Not claimable during the backoff.
    expect(await client.worker.claim({ workerId: 'w1', lanes: { A: 1 }, kinds: [run.kind] })).toEqual([])

    await sql`update ops.runs set run_at = now() where id = ${run.id}`
    const [second] = await client.worker.claim({ workerId: 'w1', lanes: { A: 1 }, kinds: [run.kind] })
    expect(second?.attempt).toBe(2)
    const [retried] = await client.worker.fail({ workerId: 'w1', failures: [{ ...held(second), error }] })
    const delay2 = Date.parse(retried?.runAt ?? '') - Date.parse(retried?.updatedAt ?? '')
    expect(delay2).toBeGreaterThanOrEqual(1900)
    expect(delay2).toBeLessThan(2500)

    await sql`update ops.runs set run_at = now() where id = ${run.id}`
    const [third] = await client.worker.claim({ workerId: 'w1', lanes: { A: 1 }, kinds: [run.kind] })
    const [last] = await client.worker.fail({ workerId: 'w1', failures: [{ ...held(third), error }] })
    expect(last).toMatchObject({ status: 'failed', attempt: 3, error })
    expect(last?.finishedAt).not.toBeNull()
    expect(await eventTypes(run.id)).toEqual([
      'run:enqueued',
      'run:claimed',
      'run:retry_scheduled',
      'run:claimed',
      'run:retry_scheduled',
      'run:claimed',
      'run:failed',
    ])
  })

  it('fails at once when the failure is not retryable', async () => {
    const run = await freshRun({ maxAttempts: 5 })
    const [failed] = await ctx.client.worker.fail({
      workerId: 'w1',
      failures: [{ ...held(run), error: { type: 'validation', message: 'bad params' }, retry: false }],
    })
    expect(failed?.status).toBe('failed')
  })

  it('hands runs back on release without burning an attempt', async () => {
    const run = await freshRun({ maxAttempts: 1 })
    const [released] = await ctx.client.worker.release({ workerId: 'w1', runs: [held(run)] })
    expect(released).toMatchObject({ status: 'queued', attempt: 0, workerId: null })
    const [again] = await ctx.client.worker.claim({ workerId: 'w2', lanes: { A: 1 }, kinds: [run.kind] })
    expect(again).toMatchObject({ id: run.id, attempt: 1, workerId: 'w2' })
  })
})

describe('recovery of stuck runs', () => {
  it('requeues a run whose heartbeat stopped while attempts remain', async () => {
    const { client } = ctx
    const run = await freshRun({ maxAttempts: 2 })
    await ageHeartbeat(run.id, 31)
    const fresh = await freshRun()
    const recovered = await client.worker.recoverStuck({ timeoutSeconds: 30 })
    expect(recovered.map((r) => r.id)).toEqual([run.id])
    expect(recovered[0]).toMatchObject({ status: 'queued', workerId: null, attempt: 1 })
    expect(recovered[0]?.error?.type).toBe('heartbeat_timeout')
    expect((await client.runs.get(fresh.id)).status).toBe('running')
    // The old worker learns it lost the run.
    expect(await client.worker.heartbeat({ workerId: 'w1', runs: [held(run)] })).toEqual({
      cancel: [],
      lost: [held(run)],
    })
    const [reclaimed] = await client.worker.claim({ workerId: 'w2', lanes: { A: 1 }, kinds: [run.kind] })
    expect(reclaimed).toMatchObject({ id: run.id, attempt: 2 })
  })

  it('fails a stuck run with heartbeat_timeout when no attempts remain', async () => {
    const { client } = ctx
    const run = await freshRun({ maxAttempts: 1 })
    await ageHeartbeat(run.id, 45)
    const [recovered] = await client.worker.recoverStuck({ timeoutSeconds: 30 })
    expect(recovered).toMatchObject({ id: run.id, status: 'failed' })
    expect(recovered?.error).toMatchObject({
      type: 'heartbeat_timeout',
      context: { worker_id: 'w1', timeout_seconds: 30 },
    })
    expect(await eventTypes(run.id)).toContain('run:recovered')
    expect(await client.worker.recoverStuck({ timeoutSeconds: 30 })).toEqual([])
  })

  it('ends a stuck run whose cancel was pending as cancelled', async () => {
    const run = await freshRun({ maxAttempts: 3 })
    await ctx.client.runs.cancel(run.id)
    await ageHeartbeat(run.id, 60)
    const [recovered] = await ctx.client.worker.recoverStuck({ timeoutSeconds: 30 })
    expect(recovered).toMatchObject({ id: run.id, status: 'cancelled' })
  })
})

describe('enqueue', () => {
  it('is idempotent by key: a retried enqueue creates nothing and returns the existing runs', async () => {
    const { client, sql } = ctx
    const session = await client.sessions.create({ name: 'idem' })
    const key = `deploy-${Date.now()}`
    const first = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'deploy', idempotencyKey: key }, { kind: 'deploy' }],
    })
    const second = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'deploy', idempotencyKey: key }],
    })
    expect(second[0]?.id).toBe(first[0]?.id)
    const [row] = await sql`select count(*)::int as n from ops.runs where idempotency_key = ${key}`
    expect(row?.n).toBe(1)
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () =>
        client.runs.enqueue({
          sessionId: session.id,
          runs: [{ kind: 'deploy', idempotencyKey: `${key}-c` }],
        }),
      ),
    )
    expect(new Set(concurrent.map((r) => r[0]?.id)).size).toBe(1)
  })

  it('returns runs in input order with template defaults applied', async () => {
    const { client } = ctx
    const session = await client.sessions.create({ name: 'templates' })
    const t1 = await client.templates.create({
      name: 'db-migrate',
      kind: 'shell',
      lane: 'C',
      priority: 7,
      defaultParams: { command: 'migrate', args: ['up'] },
      paramsSchema: {
        type: 'object',
        properties: {
          command: { type: 'string' },
          args: { type: 'array', items: { type: 'string' } },
          env: { type: 'string' },
        },
        required: ['command', 'env'],
      },
      maxAttempts: 3,
    })
    const t2 = await client.templates.create({ name: 'db-migrate', kind: 'shell', lane: 'D' })
    expect([t1.version, t2.version]).toEqual([1, 2])
    const run = await client.templates.enqueue({
      sessionId: session.id,
      name: 'db-migrate',
      version: 1,
      params: { env: 'staging' },
    })
    expect(run).toMatchObject({
      kind: 'shell',
      lane: 'C',
      priority: 7,
      maxAttempts: 3,
      templateName: 'db-migrate',
      templateVersion: 1,
      params: { command: 'migrate', args: ['up'], env: 'staging' },
    })
    const bad = await client.templates
      .enqueue({ sessionId: session.id, name: 'db-migrate', version: 1, params: { env: 3 } })
      .catch((e) => e)
    expect(bad.code).toBe('validation')
    expect(bad.details.issues[0].path).toBe('params.env')
    expect((await client.templates.get({ name: 'db-migrate' })).version).toBe(2)
    expect(
      (await client.templates.list({ latestOnly: true })).map((t) => `${t.name}@${t.version}`),
    ).toContain('db-migrate@2')
    // Versions are immutable.
    const immutable = await ctx.sql`update ops.run_templates set lane = 'A' where name = 'db-migrate'`.catch(
      (e) => e,
    )
    expect(immutable.code).toBe('OPCON')
  })
})
