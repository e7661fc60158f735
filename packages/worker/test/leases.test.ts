import type { Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler, type Worker } from '../src/index'
import { setupDatabase, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const workers: Worker[] = []
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeoutMs: 0 })))
})

/** A promise with its resolver: releases a blocked handler exactly when the test says so. */
function gate<T = void>() {
  let open!: (value: T) => void
  const opened = new Promise<T>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

async function enqueue(kind: string, maxAttempts = 3): Promise<Run> {
  const session = await ctx.client.sessions.create({ name: kind })
  const [run] = await ctx.client.runs.enqueue({
    sessionId: session.id,
    runs: [{ kind, lane: 'A', maxAttempts }],
  })
  return run as Run
}

/**
 * Recovers one run through SQL, as the sweeper does when its worker went silent past the timeout.
 * The sweep skips rows locked at that moment (a log line being written holds its run for share), as
 * the real sweeper does, so it is asked again until it took this run.
 */
async function recoverNow(runId: string) {
  await ctx.sql`update ops.runs set heartbeat_at = now() - interval '1 hour' where id = ${runId}`
  await waitFor(`run ${runId} to be recovered`, async () => {
    const recovered = await ctx.client.worker.recoverStuck({ timeoutSeconds: 60 })
    return recovered.some((r) => r.id === runId)
  })
}

describe('fenced leases in the worker', () => {
  it('a stale execution never settles the attempt that replaced it, and both stay in the history', async () => {
    // The sequence probed from outside: a worker freezes past the timeout, its run is recovered, the
    // same worker claims it again, and only then does the first handler finish.
    const first = gate<{ from: number }>()
    const second = gate<{ from: number }>()
    const started: { attempt: number; lease: string | null; signal: AbortSignal }[] = []
    const handler = defineHandler({
      kind: 'fenced',
      input: z.object({}),
      async run(c) {
        started.push({ attempt: c.run.attempt, lease: c.run.lease, signal: c.signal })
        c.log.info(`attempt ${c.run.attempt} running`)
        // The first execution ignores its signal, as a frozen or careless handler would.
        return c.run.attempt === 1 ? await first.opened : await second.opened
      },
    })
    const worker = createWorker({
      client: ctx.client,
      workerId: 'w-reused',
      handlers: [handler],
      // No sweeper and no heartbeat during the test: the test recovers the run and decides the order.
      sweepIntervalMs: false,
      heartbeatIntervalMs: 60_000,
      heartbeatTimeoutSeconds: 600,
      pollIntervalMs: 100,
      abortGraceMs: 60_000,
    })
    workers.push(worker)
    const lost: string[] = []
    const succeeded: unknown[] = []
    worker.on('run:lost', ({ run }) => lost.push(`${run.id}:${run.attempt}`))
    worker.on('run:succeeded', ({ result }) => succeeded.push(result))
    await worker.start()

    const run = await enqueue('fenced')
    await waitFor('attempt 1 to start', () => started.length === 1)
    // Its log line is buffered for a few milliseconds: let it land under lease 1 before the recovery,
    // which would otherwise fence it out (as it must) and leave it out of the history checked below.
    await waitFor('attempt 1 to log', async () =>
      (await ctx.client.events.list({ runId: run.id })).some((e) => e.type === 'log'),
    )
    await recoverNow(run.id)
    // The recovery requeued the run; the same worker id claims it again (attempt 2, a new lease).
    await waitFor('attempt 2 to start', () => started.length === 2)
    const [one, two] = started as [(typeof started)[0], (typeof started)[0]]
    expect(two.attempt).toBe(2)
    expect(two.lease).not.toBe(one.lease)
    // The stale execution was told at once, and is still counted until its handler returns.
    expect(one.signal.aborted).toBe(true)
    expect(one.signal.reason).toMatchObject({ code: 'cancelled' })
    expect(worker.inFlight().A).toBe(2)
    expect((await worker.health()).inFlight).toBe(2)

    // Attempt 1 finishes first: its result must not reach the run.
    first.open({ from: 1 })
    await waitFor('attempt 1 to be reported lost', () => lost.length === 1)
    expect(lost).toEqual([`${run.id}:1`])
    expect(await ctx.client.runs.get(run.id)).toMatchObject({
      status: 'running',
      attempt: 2,
      lease: two.lease,
    })
    expect(worker.inFlight().A).toBe(1)

    second.open({ from: 2 })
    await waitFor(
      'the run to succeed',
      async () => (await ctx.client.runs.get(run.id)).status === 'succeeded',
    )
    const done = await ctx.client.runs.get(run.id)
    expect(done).toMatchObject({ status: 'succeeded', attempt: 2, result: { from: 2 } })
    expect(succeeded).toEqual([{ from: 2 }])

    // Both executions are in the history, each event with the attempt it belongs to.
    const events = await ctx.client.events.list({ runId: run.id })
    expect(events.map((e) => [e.type, e.attempt])).toEqual([
      ['run:enqueued', null],
      ['run:claimed', 1],
      ['log', 1],
      ['run:recovered', 1],
      ['run:claimed', 2],
      ['log', 2],
      ['run:succeeded', 2],
    ])
    await worker.stop()
    expect(worker.inFlight().A).toBe(0)
  })

  it('stop() waits for stale executions too, then abandons them explicitly', async () => {
    const stuck = gate()
    let calls = 0
    const handler = defineHandler({
      kind: 'fenced-stop',
      input: z.object({}),
      async run(c) {
        calls++
        if (c.run.attempt === 1) await stuck.opened // ignores its signal for good
        return { attempt: c.run.attempt }
      },
    })
    const worker = createWorker({
      client: ctx.client,
      handlers: [handler],
      sweepIntervalMs: false,
      heartbeatIntervalMs: 60_000,
      heartbeatTimeoutSeconds: 600,
      pollIntervalMs: 100,
      abortGraceMs: 300,
    })
    workers.push(worker)
    const abandoned: string[] = []
    worker.on('run:abandoned', ({ cause }) => abandoned.push(cause))
    await worker.start()
    const run = await enqueue('fenced-stop')
    await waitFor('attempt 1 to start', () => calls === 1)
    await recoverNow(run.id)
    await waitFor(
      'attempt 2 to succeed',
      async () => (await ctx.client.runs.get(run.id)).status === 'succeeded',
    )
    // The stale execution still runs: it is counted, and stop() accounts for it.
    expect(worker.inFlight().A).toBe(1)
    await worker.stop({ timeoutMs: 100 })
    expect(abandoned).toEqual(['lost'])
    expect(worker.inFlight().A).toBe(0)
    expect((await ctx.client.runs.get(run.id)).result).toEqual({ attempt: 2 })
    stuck.open()
  })

  it('a heartbeat after recovery aborts the execution with reason lost, and its later writes are dropped', async () => {
    const release = gate()
    let signal: AbortSignal | undefined
    let putError: unknown
    const handler = defineHandler({
      kind: 'fenced-heartbeat',
      input: z.object({}),
      async run(c) {
        signal = c.signal
        await new Promise((resolve) => c.signal.addEventListener('abort', resolve))
        // Writes after losing the lease reach nothing.
        c.log.info('written after the lease was lost')
        c.progress(0.9, 'too late')
        putError = await c.artifacts.text({ name: 'late.txt', text: 'late' }).catch((e) => e)
        await release.opened
        return { late: true }
      },
    })
    const worker = createWorker({
      client: ctx.client,
      handlers: [handler],
      sweepIntervalMs: false,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutSeconds: 600,
      pollIntervalMs: 60_000,
      lanes: ['B'],
    })
    workers.push(worker)
    await worker.start()
    const session = await ctx.client.sessions.create({ name: 'hb' })
    const [run] = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'fenced-heartbeat', lane: 'B', maxAttempts: 1 }],
    })
    await waitFor('the handler to start', () => signal)
    // No attempts left: the recovery fails the run, and nobody claims it again.
    await recoverNow(run?.id as string)
    await waitFor('the heartbeat to report the run lost', () => signal?.aborted)
    await waitFor('the late artifact to be refused', () => putError)
    expect(putError).toMatchObject({ code: 'lease_lost' })
    release.open()
    await worker.stop()
    const after = await ctx.client.runs.get(run?.id as string)
    expect(after).toMatchObject({ status: 'failed', progress: null })
    expect(after.error?.type).toBe('heartbeat_timeout')
    const types = (await ctx.client.events.list({ runId: run?.id as string })).map((e) => e.type)
    expect(types).toEqual(['run:enqueued', 'run:claimed', 'run:recovered'])
    expect(await ctx.client.artifacts.list({ runId: run?.id as string })).toEqual([])
  })
})
