import type { Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createWorker, defineHandler, type Worker, type WorkerOptions } from '../src/index'
import { setupDatabase, sleep, waitFor } from './helpers'

// Hand-off: an idle worker says it waits (ops.wait_for_runs), and an enqueue of one run due now is
// written claimed by it and reaches it with the NOTIFY, without a claim. The SQL side is in
// packages/core/test/handoff.test.ts.

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const workers: Worker[] = []
async function startWorker(options: Omit<WorkerOptions, 'client'>): Promise<Worker> {
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

async function enqueue(kind: string, lane: Run['lane'] = 'A'): Promise<Run> {
  const session = await ctx.client.sessions.create({ name: kind })
  const [run] = await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind, lane }] })
  return run as Run
}

const settled = (id: string) =>
  waitFor(`run ${id} to succeed`, async () => {
    const run = await ctx.client.runs.get(id)
    return run.status === 'succeeded' ? run : undefined
  })

const waits = async (workerId: string) =>
  (
    await ctx.sql`select lane::text, slots from ops.run_waiters where worker_id = ${workerId} order by lane`
  ).map((r) => [r.lane, r.slots])

describe('hand-off', () => {
  it('an idle worker waits with its free slots, and runs each single new run handed to it', async () => {
    const ran: string[] = []
    const h = defineHandler({ kind: 'ho-basic', input: z.object({}), run: (c) => void ran.push(c.run.id) })
    const worker = await startWorker({ handlers: [h], lanes: ['A'], concurrency: 2 })
    await waitFor('the worker to wait', async () => (await waits(worker.id)).length > 0)
    expect(await waits(worker.id)).toEqual([['A', 2]])
    const claimed: string[] = []
    worker.on('run:claimed', (run) => claimed.push(run.id))
    for (let i = 0; i < 5; i++) {
      const run = await enqueue('ho-basic')
      // Claimed by the enqueue itself: the worker did not have to claim it.
      expect(run).toMatchObject({ status: 'running', workerId: worker.id, attempt: 1 })
      await settled(run.id)
      await waitFor('the slot to be waited with again', async () => (await waits(worker.id))[0]?.[1] === 2)
    }
    expect(ran).toHaveLength(5)
    expect(claimed).toEqual(ran)
    await worker.stop()
    // A stopped worker waits nowhere: the next run is queued.
    expect(await waits(worker.id)).toEqual([])
    expect((await enqueue('ho-basic')).status).toBe('queued')
  })

  it('keeps a handed run it heard when a later wait lists it, however long the run takes', async () => {
    const h = defineHandler({ kind: 'ho-slow', input: z.object({}), run: () => sleep(2500) })
    // Lane A waits with one free slot while the run is busy, and refreshes its wait every second:
    // each answer lists the runs handed since the last one.
    const worker = await startWorker({ handlers: [h], lanes: ['A'], concurrency: 2 })
    await waitFor('the worker to wait', async () => (await waits(worker.id)).length > 0)
    const run = await enqueue('ho-slow')
    expect(run.status).toBe('running')
    const done = await settled(run.id)
    expect(done).toMatchObject({ attempt: 1, workerId: worker.id })
    expect((await ctx.client.events.list({ runId: run.id })).map((e) => e.type)).toEqual([
      'run:enqueued',
      'run:claimed',
      'run:succeeded',
    ])
    await worker.stop()
  })

  it('waits only in lanes whose queue came back empty, and only for its kinds', async () => {
    const gate = { open: false }
    const h = defineHandler({
      kind: 'ho-lanes',
      input: z.object({}),
      run: async () => {
        while (!gate.open) await sleep(10)
      },
    })
    const worker = await startWorker({ handlers: [h], lanes: ['B', 'C'], concurrency: { B: 1, C: 3 } })
    await waitFor('the worker to wait in B and C', async () => (await waits(worker.id)).length === 2)
    expect(await waits(worker.id)).toEqual([
      ['B', 1],
      ['C', 3],
    ])
    const [row] = await ctx.sql`select kinds from ops.run_waiters where worker_id = ${worker.id} limit 1`
    expect(row?.kinds).toEqual(['ho-lanes'])
    // Busy in B: it waits there no more (its handler slot is taken).
    const b = await enqueue('ho-lanes', 'B')
    expect(b.status).toBe('running')
    await waitFor('B to show no free slot', async () => (await waits(worker.id)).length === 1)
    expect(await waits(worker.id)).toEqual([['C', 3]])
    expect((await enqueue('ho-lanes', 'B')).status).toBe('queued')
    gate.open = true
    await settled(b.id)
    await worker.stop()
  })

  it('with handoff: false, the worker never waits and claims as before', async () => {
    const h = defineHandler({ kind: 'ho-off', input: z.object({}), run: () => 'ok' })
    const worker = await startWorker({ handlers: [h], handoff: false })
    await sleep(500)
    expect(await waits(worker.id)).toEqual([])
    const run = await enqueue('ho-off')
    expect(run.status).toBe('queued')
    expect((await settled(run.id)).workerId).toBe(worker.id)
    await worker.stop()
  })

  it('buffers a run handed beyond its free slots, and starts it when a slot frees', async () => {
    const order: string[] = []
    const gate = { open: false }
    const h = defineHandler({
      kind: 'ho-over',
      input: z.object({}),
      run: async (c) => {
        order.push(`start ${c.run.id}`)
        while (!gate.open) await sleep(10)
        order.push(`end ${c.run.id}`)
      },
    })
    const worker = await startWorker({ handlers: [h], lanes: ['D'], concurrency: 1 })
    await waitFor('the worker to wait', async () => (await waits(worker.id)).length === 1)
    const first = await enqueue('ho-over', 'D')
    expect(first.status).toBe('running')
    await waitFor('the first run to start', () => order.length === 1)
    // A wait that raced with the hand-off says there are slots the worker does not have.
    await ctx.sql`select ops.wait_for_runs(${worker.id}, '{D}', '{3}', '{ho-over}', 5000)`
    const second = await enqueue('ho-over', 'D')
    expect(second).toMatchObject({ status: 'running', workerId: worker.id })
    await sleep(200)
    expect(order).toEqual([`start ${first.id}`])
    gate.open = true
    await settled(second.id)
    expect(order).toEqual([`start ${first.id}`, `end ${first.id}`, `start ${second.id}`, `end ${second.id}`])
    await worker.stop()
  })

  it('hands back a run listed as handed to it whose NOTIFY it never heard, without losing the attempt', async () => {
    const h = defineHandler({ kind: 'ho-unheard', input: z.object({}), run: () => 'ok' })
    const worker = await startWorker({ handlers: [h], lanes: ['C'], concurrency: 2 })
    await waitFor('the worker to wait', async () => (await waits(worker.id)).length === 1)
    // Claimed for the worker and listed in its wait, as a hand-off is, but with no NOTIFY: what the
    // worker sees when its listening connection dropped as the run was handed. (Queued in lane D,
    // which the worker does not serve, so its NOTIFY wakes nothing here.)
    const queued = await enqueue('ho-other', 'D')
    const [taken] = await ctx.client.worker.claim({
      workerId: worker.id,
      lanes: { D: 1 },
      kinds: ['ho-other'],
    })
    expect(taken?.id).toBe(queued.id)
    await waitFor('the run to be listed in the wait', async () => {
      const listed = await ctx.sql`update ops.run_waiters
        set handed_ids = array[${queued.id}::uuid], handed_leases = array[${taken?.lease as string}::bigint]
        where worker_id = ${worker.id} and lane = 'C' returning 1`
      return listed.length === 1
    })
    const back = await waitFor(
      'the run to be handed back',
      async () => {
        const run = await ctx.client.runs.get(queued.id)
        return run.status === 'queued' ? run : undefined
      },
      10_000,
    )
    expect(back).toMatchObject({ status: 'queued', attempt: 0, workerId: null })
    const types = (await ctx.client.events.list({ runId: queued.id })).map((e) => e.type)
    expect(types).toEqual(['run:enqueued', 'run:claimed', 'run:released'])
    await ctx.client.runs.cancel(queued.id)
    await worker.stop()
  })

  it('a run handed to a worker that never hears it is recovered and run by another', async () => {
    // A worker that said it waits and died before its wait expired.
    await ctx.sql`select ops.wait_for_runs('ho-ghost', '{A}', '{1}', '{ho-ghost}', 60000)`
    const session = await ctx.client.sessions.create({ name: 'ghost' })
    const [run] = (await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'ho-ghost', lane: 'A', maxAttempts: 2 }],
    })) as Run[]
    expect(run).toMatchObject({ status: 'running', workerId: 'ho-ghost' })
    await ctx.sql`select ops.wait_for_runs('ho-ghost', '{A}', '{0}', '{ho-ghost}', 60000)`
    const h = defineHandler({ kind: 'ho-ghost', input: z.object({}), run: () => 'ok' })
    const worker = await startWorker({ handlers: [h], heartbeatTimeoutSeconds: 1, sweepIntervalMs: 300 })
    const done = await settled(run?.id as string)
    expect(done).toMatchObject({ workerId: worker.id, attempt: 2 })
    const types = (await ctx.client.events.list({ runId: run?.id as string })).map((e) => e.type)
    expect(types).toContain('run:recovered')
    await worker.stop()
  })
})
