import type { OpsClient, Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler, type Worker, type WorkerOptions } from '../src/index'
import { setupDatabase, sleep, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const workers: Worker[] = []
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeoutMs: 0 })))
})

function newWorker(options: Omit<WorkerOptions, 'client'> & { client?: OpsClient }): Worker {
  const worker = createWorker({
    client: ctx.client,
    lanes: ['A'],
    heartbeatIntervalMs: 500,
    pollIntervalMs: 200,
    sweepIntervalMs: false,
    ...options,
  })
  workers.push(worker)
  return worker
}

/** A promise with its resolver: releases a blocked handler exactly when the test says so. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

async function enqueue(kind: string, count: number, maxAttempts = 3): Promise<Run[]> {
  const session = await ctx.client.sessions.create({ name: kind })
  return ctx.client.runs.enqueue({
    sessionId: session.id,
    runs: Array.from({ length: count }, (_, i) => ({ kind, lane: 'A' as const, params: { i }, maxAttempts })),
  })
}

const rows = async (ids: string[]) =>
  Promise.all(ids.map((id) => ctx.client.runs.get(id))).then((runs) => new Map(runs.map((r) => [r.id, r])))

const allStatus = (ids: string[], status: Run['status']) =>
  waitFor(`${ids.length} runs to be ${status}`, async () => {
    const got = await rows(ids)
    return [...got.values()].every((r) => r.status === status) ? got : undefined
  })

/**
 * A worker at concurrency 1 whose first handler blocks until the gate opens, with three runs queued:
 * the first runs, the other two wait in the buffer (claim-ahead on a saturated lane).
 */
async function blockedWithTwoBuffered(kind: string, options: Partial<WorkerOptions> = {}) {
  const g = gate()
  const started: string[] = []
  const handler = defineHandler({
    kind,
    input: z.object({ i: z.number() }),
    async run(c) {
      started.push(c.run.id)
      if (c.params.i === 0) await g.opened
      return c.params.i
    },
  })
  const worker = newWorker({
    concurrency: 1,
    prefetch: { size: 2, when: 'saturated', ttlMs: 60_000 },
    handlers: [handler],
    ...options,
  })
  const runs = await enqueue(kind, 3)
  await worker.start()
  await waitFor('two runs to wait in the buffer', () => worker.buffered().A === 2)
  expect(started).toEqual([runs[0]?.id])
  const [first, ...buffered] = runs as [Run, Run, Run]
  return { worker, g, started, first, buffered }
}

describe('claim-ahead (prefetch)', () => {
  it('never runs more handlers than the concurrency while runs wait in the buffer', async () => {
    let running = 0
    let maxRunning = 0
    let maxBuffered = 0
    const handler = defineHandler({
      kind: 'pf-limit',
      input: z.object({ i: z.number() }),
      async run() {
        running++
        maxRunning = Math.max(maxRunning, running)
        await new Promise((r) => setImmediate(r))
        running--
      },
    })
    const worker = newWorker({
      concurrency: 2,
      prefetch: { size: 6, when: 'saturated' },
      handlers: [handler],
    })
    // Sampled right after each claim hands its runs over (accept is synchronous).
    worker.on('run:claimed', () => {
      queueMicrotask(() => {
        maxBuffered = Math.max(maxBuffered, worker.buffered().A ?? 0)
      })
    })
    const runs = await enqueue('pf-limit', 60)
    await worker.start()
    const done = await allStatus(
      runs.map((r) => r.id),
      'succeeded',
    )
    expect(maxRunning).toBeLessThanOrEqual(2)
    expect(maxBuffered).toBeGreaterThan(0) // the buffer was used, so the limit was tested
    expect(maxBuffered).toBeLessThanOrEqual(6)
    // Each run ran once: a buffered run's attempt is its only one.
    expect([...done.values()].every((r) => r.attempt === 1)).toBe(true)
    await worker.stop()
  })

  it('heartbeats buffered runs: the sweeper does not recover them past the heartbeat timeout', async () => {
    const beats: number[] = []
    const { worker, g, first, buffered } = await blockedWithTwoBuffered('pf-beat', {
      heartbeatIntervalMs: 200,
      heartbeatTimeoutSeconds: 1,
    })
    worker.on('heartbeat', (h) => beats.push(h.runs))
    const since = Date.now()
    // Wait past the heartbeat timeout, then for one more beat, so a run left out of the beats is stale.
    await waitFor('the heartbeat timeout to pass', () => Date.now() - since > 1500)
    const seen = beats.length
    await waitFor('one more heartbeat', () => beats.length > seen)
    expect(beats.at(-1)).toBe(3) // the running run and both buffered ones
    const recovered = await ctx.client.worker.recoverStuck({ timeoutSeconds: 1 })
    expect(recovered.map((r) => r.id)).toEqual([])
    const now = await rows(buffered.map((r) => r.id))
    for (const run of buffered) {
      expect(now.get(run.id)?.status).toBe('running')
      expect(now.get(run.id)?.workerId).toBe(worker.id)
    }
    g.open()
    await allStatus([first.id, ...buffered.map((r) => r.id)], 'succeeded')
    await worker.stop()
  })

  it('a cancelled buffered run ends cancelled without its handler ever starting (NOTIFY and heartbeat)', async () => {
    const { worker, g, started, first, buffered } = await blockedWithTwoBuffered('pf-cancel')
    const [viaNotify, other] = buffered as [Run, Run]
    const cancelled: string[] = []
    worker.on('run:cancelled', ({ run }) => cancelled.push(run.id))
    await ctx.client.runs.cancel(viaNotify.id, 'not needed')
    await waitFor('the buffered run to be cancelled', () => cancelled.includes(viaNotify.id))
    expect(worker.buffered().A).toBe(1)
    g.open()
    await allStatus([first.id, other.id], 'succeeded')
    const row = await ctx.client.runs.get(viaNotify.id)
    expect(row.status).toBe('cancelled')
    expect(row.attempt).toBe(1)
    expect(started).not.toContain(viaNotify.id)
    await worker.stop()

    // Without LISTEN, the heartbeat's `cancel` answer does the same.
    const deaf: OpsClient = {
      ...ctx.client,
      subscribe: async () => {
        throw new Error('LISTEN is not available')
      },
    }
    const b = await blockedWithTwoBuffered('pf-cancel-beat', { client: deaf, heartbeatIntervalMs: 200 })
    b.worker.on('error', () => {})
    const target = b.buffered[1] as Run
    await ctx.client.runs.cancel(target.id)
    await allStatus([target.id], 'cancelled')
    b.g.open()
    await allStatus([b.first.id, (b.buffered[0] as Run).id], 'succeeded')
    expect(b.started).not.toContain(target.id)
    await b.worker.stop()
  })

  it('drops a buffered run that is no longer its own (recovered): run:lost, its handler runs only for the new claim', async () => {
    const { worker, g, started, first, buffered } = await blockedWithTwoBuffered('pf-lost', {
      heartbeatIntervalMs: 200,
    })
    const [target, other] = buffered as [Run, Run]
    const lost: Run[] = []
    worker.on('run:lost', ({ run }) => lost.push(run))
    // Recovered through SQL, as the sweeper does for a silent worker; the sweep skips a row that a
    // heartbeat holds at that moment, so it is asked until it took this run.
    await waitFor('the buffered run to be recovered', async () => {
      await ctx.sql`update ops.runs set heartbeat_at = now() - interval '1 hour' where id = ${target.id}`
      const recovered = await ctx.client.worker.recoverStuck({ timeoutSeconds: 60 })
      return recovered.some((r) => r.id === target.id)
    })
    await waitFor('the worker to drop it', () => lost.some((r) => r.id === target.id))
    expect(started).not.toContain(target.id)
    g.open()
    const done = await allStatus([first.id, target.id, other.id], 'succeeded')
    // Its handler ran once, for the claim after the recovery (attempt 2), never for the stale lease.
    expect(started.filter((id) => id === target.id)).toHaveLength(1)
    expect(done.get(target.id)?.attempt).toBe(2)
    const staleLease = lost.find((r) => r.id === target.id)?.lease
    expect(staleLease).toBeTruthy()
    expect(done.get(target.id)?.lease).not.toBe(staleLease)
    await worker.stop()
  })

  it('stop hands buffered runs back at once: queued again, attempt not burned, nothing left running', async () => {
    const { worker, g, started, first, buffered } = await blockedWithTwoBuffered('pf-stop')
    const stopped = worker.stop({ timeoutMs: 60_000 })
    // Released while the running handler is still blocked: the stop did not wait for it.
    const back = await allStatus(
      buffered.map((r) => r.id),
      'queued',
    )
    for (const run of back.values()) {
      expect(run.attempt).toBe(0)
      expect(run.workerId).toBeNull()
    }
    expect((await ctx.client.runs.get(first.id)).status).toBe('running')
    g.open()
    await stopped
    expect((await ctx.client.runs.get(first.id)).status).toBe('succeeded')
    expect(started).toEqual([first.id])
    expect(worker.buffered().A).toBe(0)
  })

  it('hands back a buffered run that waited past its TTL, and does not claim it straight back', async () => {
    const released: string[] = []
    const { worker, g, first, buffered } = await blockedWithTwoBuffered('pf-ttl', {
      prefetch: { size: 2, when: 'saturated', ttlMs: 300 },
    })
    worker.on('run:released', ({ run }) => released.push(run.id))
    await waitFor('both buffered runs to be released', () => released.length === 2)
    const back = await allStatus(
      buffered.map((r) => r.id),
      'queued',
    )
    for (const run of back.values()) expect(run.attempt).toBe(0)
    expect(worker.buffered().A).toBe(0)
    // The slot is still taken: the loop goes round (poll 200 ms) without claiming them again.
    await sleep(500)
    expect(worker.buffered().A).toBe(0)
    g.open()
    const done = await allStatus([first.id, ...buffered.map((r) => r.id)], 'succeeded')
    for (const run of buffered) expect(done.get(run.id)?.attempt).toBe(1)
    await worker.stop()
  })

  it('by default a lane of slow handlers does not claim ahead; queued runs go to an idle worker', async () => {
    // Fast handlers first, so the test would catch a rule that never lets a lane claim ahead.
    const fast = defineHandler({ kind: 'pf-fair-fast', input: z.object({ i: z.number() }), run: () => null })
    const eager = newWorker({ workerId: 'pf-eager', concurrency: 1, handlers: [fast] })
    let eagerBuffered = 0
    eager.on('run:claimed', () => {
      queueMicrotask(() => {
        eagerBuffered = Math.max(eagerBuffered, eager.buffered().A ?? 0)
      })
    })
    const fastRuns = await enqueue('pf-fair-fast', 40)
    await eager.start()
    await allStatus(
      fastRuns.map((r) => r.id),
      'succeeded',
    )
    await eager.stop()
    expect(eagerBuffered).toBeGreaterThan(0)

    // Slow handlers (250 ms of work each, far above a claim round trip): never claim ahead.
    const slow = defineHandler({
      kind: 'pf-fair-slow',
      input: z.object({ i: z.number() }),
      run: () => sleep(250),
    })
    const busy = newWorker({ workerId: 'pf-busy', concurrency: 1, handlers: [slow] })
    let busyBuffered = 0
    let busyFinished = 0
    busy.on('run:claimed', () => {
      queueMicrotask(() => {
        busyBuffered = Math.max(busyBuffered, busy.buffered().A ?? 0)
      })
    })
    busy.on('run:succeeded', () => busyFinished++)
    const slowRuns = await enqueue('pf-fair-slow', 12)
    await busy.start()
    // Enough finished handlers for the rule to judge the lane (and a saturated lane: 12 queued).
    await waitFor('six slow runs to finish', () => busyFinished >= 6, 30_000)
    const idle = newWorker({ workerId: 'pf-idle', concurrency: 1, handlers: [slow] })
    await idle.start()
    const done = await allStatus(
      slowRuns.map((r) => r.id),
      'succeeded',
    )
    expect(busyBuffered).toBe(0)
    expect([...done.values()].filter((r) => r.workerId === 'pf-idle').length).toBeGreaterThan(0)
    await Promise.all([busy.stop(), idle.stop()])
  })

  it('asks for at most 1000 runs per lane in one claim, whatever the buffer size', async () => {
    const asked: number[] = []
    const errors: Error[] = []
    const counting: OpsClient = {
      ...ctx.client,
      worker: {
        ...ctx.client.worker,
        claim: (input) => {
          asked.push(input.lanes.A ?? 0)
          return ctx.client.worker.claim(input)
        },
      },
    }
    const handler = defineHandler({ kind: 'pf-big', input: z.object({ i: z.number() }), run: () => null })
    const worker = newWorker({
      client: counting,
      concurrency: 1,
      prefetch: { size: 1500, when: 'saturated' },
      handlers: [handler],
    })
    worker.on('error', (e) => errors.push(e))
    const runs = await enqueue('pf-big', 1200)
    await worker.start()
    await allStatus(
      runs.map((r) => r.id),
      'succeeded',
    )
    await worker.stop()
    expect(errors).toEqual([])
    expect(Math.max(...asked)).toBe(1000) // 1 slot + 1500 of room, capped by the claim contract
  })

  it('rejects bad prefetch options with a clear error', () => {
    const h = defineHandler({ kind: 'pf-bad', input: z.object({}), run: () => null })
    expect(() => createWorker({ client: ctx.client, handlers: [h], prefetch: -1 })).toThrow(/prefetch size/)
    expect(() => createWorker({ client: ctx.client, handlers: [h], prefetch: { ttlMs: 0 } })).toThrow(
      /prefetch ttlMs/,
    )
    expect(() =>
      createWorker({ client: ctx.client, handlers: [h], prefetch: { when: 'sometimes' as 'saturated' } }),
    ).toThrow(/prefetch when/)
  })
})
