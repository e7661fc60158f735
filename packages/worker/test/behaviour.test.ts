import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OpsClient, Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createWorker,
  defineHandler,
  filesystemArtifactStore,
  HandlerError,
  startHealthServer,
  type Worker,
  type WorkerOptions,
} from '../src/index'
import { setupDatabase, sleep, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const workers: Worker[] = []
async function startWorker(options: Omit<WorkerOptions, 'client'> & { client?: OpsClient }): Promise<Worker> {
  const worker = createWorker({
    client: ctx.client,
    heartbeatIntervalMs: 500,
    pollIntervalMs: 200,
    ...options,
  })
  workers.push(worker)
  await worker.start()
  return worker
}
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeoutMs: 0 })))
})

async function enqueue(kind: string, spec: Record<string, unknown> = {}): Promise<Run> {
  const session = await ctx.client.sessions.create({ name: kind })
  const [run] = await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind, lane: 'A', ...spec }] })
  return run as Run
}

const settled = (id: string, status?: Run['status']) =>
  waitFor(`run ${id} to be ${status ?? 'finished'}`, async () => {
    const run = await ctx.client.runs.get(id)
    const done = status ? run.status === status : ['succeeded', 'failed', 'cancelled'].includes(run.status)
    return done ? run : undefined
  })

const eventTypes = async (runId: string) => (await ctx.client.events.list({ runId })).map((e) => e.type)

describe('worker behaviour', () => {
  it('fails invalid params with error type validation and the zod issues, without calling the handler', async () => {
    let called = false
    const h = defineHandler({
      kind: 'typed',
      input: z.object({ count: z.number().int() }),
      run: () => {
        called = true
      },
    })
    const worker = await startWorker({ handlers: [h] })
    const run = await enqueue('typed', { params: { count: 'many' }, maxAttempts: 3 })
    const failed = await settled(run.id, 'failed')
    expect(called).toBe(false)
    expect(failed.attempt).toBe(1) // not retried: the params will not get better
    expect(failed.error?.type).toBe('validation')
    expect(failed.error?.context?.issues).toEqual([
      expect.objectContaining({ path: 'params.count', code: 'invalid_type' }),
    ])
    await worker.stop()
  })

  it('never claims a run whose kind it has no handler for', async () => {
    const h = defineHandler({ kind: 'known', input: z.object({}), run: () => 'ok' })
    const worker = await startWorker({ handlers: [h] })
    const unknown = await enqueue('unknown-kind')
    const known = await enqueue('known')
    await settled(known.id, 'succeeded')
    // The unknown run was enqueued first in the same lane, and the worker polled several times.
    await sleep(600)
    const still = await ctx.client.runs.get(unknown.id)
    expect(still).toMatchObject({ status: 'queued', attempt: 0, workerId: null })
    expect(await eventTypes(unknown.id)).toEqual(['run:enqueued'])
    await worker.stop()
    await ctx.client.runs.cancel(unknown.id)
  })

  it('retries with backoff until attempts run out, and stops at once on a non-retryable error', async () => {
    const seen: number[] = []
    const flaky = defineHandler({
      kind: 'flaky',
      input: z.object({ permanent: z.boolean().default(false) }),
      run: (c) => {
        seen.push(c.run.attempt)
        if (c.params.permanent) throw new HandlerError({ type: 'bad_input', message: 'no', retry: false })
        if (c.run.attempt < 2) throw new Error('transient')
        return { attempt: c.run.attempt }
      },
    })
    const worker = await startWorker({ handlers: [flaky] })
    const run = await enqueue('flaky', { maxAttempts: 3 })
    const done = await settled(run.id, 'succeeded')
    expect(done.attempt).toBe(2)
    expect(done.result).toEqual({ attempt: 2 })
    const types = await eventTypes(run.id)
    expect(types.filter((t) => t === 'run:retry_scheduled')).toHaveLength(1)
    const retry = (await ctx.client.events.list({ runId: run.id })).find(
      (e) => e.type === 'run:retry_scheduled',
    )
    expect(retry?.data).toMatchObject({ error: { type: 'Error', message: 'transient' } })
    expect((retry?.data as { error?: { stack?: string } } | undefined)?.error?.stack).toContain('transient')

    const permanent = await enqueue('flaky', { maxAttempts: 3, params: { permanent: true } })
    const failed = await settled(permanent.id, 'failed')
    expect(failed.attempt).toBe(1)
    expect(failed.error).toMatchObject({ type: 'bad_input', message: 'no' })
    await worker.stop()
  })

  it('fails a run that puts an artifact without a store at once, naming the option, not after every attempt', async () => {
    const h = defineHandler({
      kind: 'needs-store',
      input: z.object({}),
      run: (c) => c.artifacts.put({ name: 'a.txt', body: 'x' }),
    })
    const worker = await startWorker({ handlers: [h] })
    const run = await enqueue('needs-store', { maxAttempts: 3 })
    const failed = await settled(run.id, 'failed')
    expect(failed.attempt).toBe(1)
    expect(failed.error).toMatchObject({ type: 'artifact_store_missing' })
    expect(failed.error?.message).toContain('createWorker({ artifactStore:')
    await worker.stop()
  })

  it('times a run out: the signal aborts with a timeout reason and the run fails with type timeout', async () => {
    let reason: unknown
    const slow = defineHandler({
      kind: 'slow',
      input: z.object({}),
      run: (c) =>
        new Promise((_, reject) =>
          c.signal.addEventListener('abort', () => {
            reason = c.signal.reason
            reject(c.signal.reason)
          }),
        ),
    })
    const worker = await startWorker({ handlers: [slow] })
    const run = await enqueue('slow', { timeoutSeconds: 1 })
    const failed = await settled(run.id, 'failed')
    expect(failed.error).toMatchObject({ type: 'timeout', context: { timeoutSeconds: 1 } })
    expect(reason).toMatchObject({ code: 'timeout' })
    await worker.stop()
  })

  it('cancels a running run: the handler’s signal aborts and the run ends cancelled', async () => {
    let started = false
    let reason: unknown
    const waiting = defineHandler({
      kind: 'waiting',
      input: z.object({}),
      run: (c) =>
        new Promise((_, reject) => {
          started = true
          c.signal.addEventListener('abort', () => {
            reason = c.signal.reason
            reject(c.signal.reason)
          })
        }),
    })
    const cancelled: string[] = []
    const worker = await startWorker({
      handlers: [waiting],
      heartbeatIntervalMs: 60_000,
      heartbeatTimeoutSeconds: 120,
    })
    worker.on('run:cancelled', ({ run }) => cancelled.push(run.id))
    const run = await enqueue('waiting')
    await waitFor('the handler to start', () => started)
    await ctx.client.runs.cancel(run.id, 'changed my mind')
    // Heartbeats are a minute apart here: only the NOTIFY can have delivered this cancel.
    const done = await settled(run.id, 'cancelled')
    expect(reason).toMatchObject({ code: 'cancelled' })
    expect(done.error).toBeNull()
    expect(cancelled).toEqual([run.id])
    expect(await eventTypes(run.id)).toEqual([
      'run:enqueued',
      'run:claimed',
      'run:cancel_requested',
      'run:cancelled',
    ])
    await worker.stop()
  })

  it('delivers a cancel at the next heartbeat when no NOTIFY arrives', async () => {
    let started = false
    const waiting = defineHandler({
      kind: 'waiting-nolisten',
      input: z.object({}),
      run: (c) =>
        new Promise((_, reject) => {
          started = true
          c.signal.addEventListener('abort', () => reject(c.signal.reason))
        }),
    })
    // The same client, with LISTEN unavailable (as behind a transaction pooler).
    const client: OpsClient = {
      ...ctx.client,
      subscribe: async () => {
        throw new Error('LISTEN is not available')
      },
    }
    const worker = await startWorker({ client, handlers: [waiting], heartbeatIntervalMs: 300 })
    const run = await enqueue('waiting-nolisten')
    await waitFor('the handler to start', () => started)
    await ctx.client.runs.cancel(run.id)
    await settled(run.id, 'cancelled')
    await worker.stop()
  })

  it('abandons a handler that ignores its signal after the grace period; the run still ends cancelled', async () => {
    let release!: () => void
    const stubborn = new Promise<void>((r) => {
      release = r
    })
    let started = false
    const deaf = defineHandler({
      kind: 'deaf',
      input: z.object({}),
      run: async () => {
        started = true
        await stubborn
        return 'finished anyway'
      },
    })
    const abandoned: string[] = []
    const worker = await startWorker({ handlers: [deaf], abortGraceMs: 300 })
    worker.on('run:abandoned', ({ run, cause }) => abandoned.push(`${run.id}:${cause}`))
    const run = await enqueue('deaf')
    await waitFor('the handler to start', () => started)
    await ctx.client.runs.cancel(run.id)
    const done = await settled(run.id, 'cancelled')
    expect(abandoned).toEqual([`${run.id}:cancel`])
    expect(done.result).toBeNull()
    expect(worker.inFlight().A).toBe(0)
    release()
    await worker.stop()
  })

  it('stops gracefully: in-flight runs finish, nothing is left running, the worker is marked stopped', async () => {
    let started = 0
    const work = defineHandler({
      kind: 'work',
      input: z.object({}),
      run: async () => {
        started++
        await sleep(400)
        return 'done'
      },
    })
    const worker = await startWorker({ handlers: [work], concurrency: 3 })
    const session = await ctx.client.sessions.create({ name: 'graceful' })
    const runs = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 3 }, () => ({ kind: 'work', lane: 'A' as const })),
    })
    await waitFor('three handlers to start', () => started === 3)
    await worker.stop({ timeoutMs: 10_000 })
    for (const r of runs) expect((await ctx.client.runs.get(r.id)).status).toBe('succeeded')
    const [row] = await ctx.sql`select stopped_at from ops.workers where id = ${worker.id}`
    expect(row?.stopped_at).not.toBeNull()
    expect(worker.state).toBe('stopped')
  })

  it('stops forcefully after the timeout: aborted runs go back to the queue without burning an attempt', async () => {
    let started = 0
    const long = defineHandler({
      kind: 'long',
      input: z.object({}),
      run: (c) =>
        new Promise((_, reject) => {
          started++
          c.signal.addEventListener('abort', () => reject(c.signal.reason))
        }),
    })
    const released: string[] = []
    const worker = await startWorker({ handlers: [long], concurrency: 2 })
    worker.on('run:released', ({ run }) => released.push(run.id))
    const session = await ctx.client.sessions.create({ name: 'forced' })
    const runs = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'long', lane: 'A' },
        { kind: 'long', lane: 'A' },
      ],
    })
    await waitFor('two handlers to start', () => started === 2)
    await worker.stop({ timeoutMs: 200 })
    expect(released.sort()).toEqual(runs.map((r) => r.id).sort())
    for (const r of runs) {
      const stored = await ctx.client.runs.get(r.id)
      expect(stored).toMatchObject({ status: 'queued', attempt: 0, workerId: null })
      expect(await eventTypes(r.id)).toContain('run:released')
    }
    await ctx.client.runs.cancelMany({ ids: runs.map((r) => r.id) })
  })

  it('keeps liveness apart from readiness: a database that does not answer fails only /health/ready', async () => {
    const h = defineHandler({ kind: 'probe-live', input: z.object({}), run: async () => null })
    let down = false
    const backend = ctx.client.backend
    const client: OpsClient = {
      ...ctx.client,
      backend: {
        ...backend,
        ping: () => (down ? Promise.reject(new Error('database down')) : backend.ping()),
      },
    }
    const worker = await startWorker({ client, handlers: [h] })
    const health = await startHealthServer(worker, { port: 0, host: '127.0.0.1' })
    try {
      down = true
      const live = await fetch(`${health.url}/health/live`)
      expect(live.status).toBe(200)
      const ready = await fetch(`${health.url}/health/ready`)
      expect(ready.status).toBe(503)
      expect(await ready.json()).toMatchObject({
        live: true,
        ready: false,
        database: { ok: false, error: 'database down' },
      })
      expect((await fetch(`${health.url}/health`)).status).toBe(503)
      down = false
      expect((await fetch(`${health.url}/health/ready`)).status).toBe(200)
    } finally {
      await health.close()
      await worker.stop()
    }
  })

  it('announces a success with the run exactly as stored, progress and heartbeats written while it ran included', async () => {
    // The completion answers only what can have changed since the claim (RunChanges); the worker
    // merges it into the run it claimed. The announced run must still be the stored row, field for field.
    const stored = defineHandler({
      kind: 'as-stored',
      input: z.object({ n: z.number() }),
      async run(c) {
        c.progress(0.25, 'a quarter')
        // Until a heartbeat and the progress have been written after the claim.
        await waitFor('a heartbeat and the progress', async () => {
          const now = await ctx.client.runs.get(c.run.id)
          return now.heartbeatAt !== now.claimedAt && now.progress === 0.25 ? now : undefined
        })
        return { doubled: c.params.n * 2, at: new Date(0) }
      },
    })
    const worker = await startWorker({ handlers: [stored], heartbeatIntervalMs: 100 })
    const announced: Run[] = []
    worker.on('run:succeeded', ({ run }) => announced.push(run))
    const run = await enqueue('as-stored', { params: { n: 21 } })
    const done = await settled(run.id, 'succeeded')
    await waitFor('the success to be announced', async () => announced.length === 1)
    expect(done.heartbeatAt).not.toBe(done.claimedAt)
    expect(done.result).toEqual({ doubled: 42, at: '1970-01-01T00:00:00.000Z' })
    expect(announced[0]).toEqual(done)
    await worker.stop()
  })

  it('writes progress, logs, text, link and file artifacts; serves /health and /metrics', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ops-artifacts-'))
    const store = filesystemArtifactStore({ root })
    const rich = defineHandler({
      kind: 'rich',
      input: z.object({}),
      async run(c) {
        c.progress(0.5, 'half way')
        c.log.warn('careful', { step: 1 })
        c.log.event('deploy:migrated', 'migrated', { data: { tables: 3 } })
        await c.artifacts.text({ name: 'summary.md', text: '# ok' })
        await c.artifacts.link({ name: 'dashboard', url: 'https://example.com/d/1' })
        const file = await c.artifacts.put({ name: 'out.bin', body: new Uint8Array([1, 2, 3]) })
        return { sha256: file.sha256 }
      },
    })
    const worker = await startWorker({ handlers: [rich], artifactStore: store })
    const health = await startHealthServer(worker, { port: 0, host: '127.0.0.1' })
    try {
      const run = await enqueue('rich')
      const done = await settled(run.id, 'succeeded')
      expect(done.progress).toBe(0.5)
      expect(done.progressMessage).toBe('half way')
      const events = await ctx.client.events.list({ runId: run.id })
      expect(events.map((e) => e.type)).toEqual([
        'run:enqueued',
        'run:claimed',
        'log',
        'deploy:migrated',
        'artifact:created',
        'artifact:created',
        'artifact:created',
        'run:succeeded',
      ])
      expect(events[2]).toMatchObject({ level: 'warn', message: 'careful', data: { step: 1 } })
      const artifacts = await ctx.client.artifacts.list({ runId: run.id })
      expect(artifacts.map((a) => [a.name, a.kind])).toEqual([
        ['summary.md', 'text'],
        ['dashboard', 'link'],
        ['out.bin', 'file'],
      ])
      const file = artifacts[2]
      expect(file).toMatchObject({ size: 3, sha256: (done.result as { sha256: string }).sha256 })
      const bytes = new Uint8Array(
        await new Response(await store.get(file?.storagePath as string)).arrayBuffer(),
      )
      expect([...bytes]).toEqual([1, 2, 3])

      const h = await fetch(`${health.url}/health`)
      expect(h.status).toBe(200)
      expect(await h.json()).toMatchObject({
        ok: true,
        live: true,
        ready: true,
        loopAlive: true,
        database: { ok: true },
      })
      expect((await fetch(`${health.url}/health/live`)).status).toBe(200)
      expect((await fetch(`${health.url}/health/ready`)).status).toBe(200)
      const metrics = await (await fetch(`${health.url}/metrics`)).text()
      expect(metrics).toMatch(/ops_worker_runs_succeeded_total\{kind="rich",lane="A",worker_id="[^"]+"\} 1/)
      expect(metrics).toContain('ops_worker_heartbeat_rtt_seconds_bucket')
      expect(metrics).toContain('ops_worker_runs_in_flight')
      await worker.stop()
      const after = await fetch(`${health.url}/health`)
      expect(after.status).toBe(503)
    } finally {
      await health.close()
      await rm(root, { recursive: true, force: true })
    }
  })

  it('rejects a misconfigured worker with a message that says what to do', () => {
    expect(() => createWorker({ client: ctx.client, concurrency: -1 })).toThrow(/concurrency/)
    expect(() => defineHandler({ kind: 'Bad Kind', input: z.object({}), run: () => 1 })).toThrow(/kind/)
    const w = createWorker({ client: ctx.client })
    return expect(w.start()).rejects.toThrow(/register at least one handler/)
  })
})
