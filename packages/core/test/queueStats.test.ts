import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

/** Runs `fn` as service_role, the only role these functions are granted to. */
async function asService<T>(fn: (sql: typeof ctx.sql) => Promise<T>): Promise<T> {
  return (await ctx.sql.begin(async (tx) => {
    await tx`set local role service_role`
    return await fn(tx as unknown as typeof ctx.sql)
  })) as T
}

type Stats = {
  queued: number
  running: number
  oldest_queued_seconds: number
  queues: {
    lane: string
    kind: string
    queued: number
    running: number
    oldest_queued_seconds: number | null
  }[]
  finished: { lane: string; kind: string; succeeded: number; failed: number; cancelled: number }[]
  succeeded: number
  failed: number
  error_rate: number
  recovery: { count: number; max_seconds: number; avg_seconds: number }
  workers: { live: number; stale: number; health: number }
}
const stats = async (window = '5 minutes'): Promise<Stats> =>
  asService(async (sql) => {
    const [row] = await sql`select ops.queue_stats(${window}::interval) as s`
    return row?.s as Stats
  })

describe('ops.queue_stats', () => {
  it('counts queued and running per lane and kind, finished runs, the error rate, recoveries and workers', async () => {
    const { client, sql } = ctx
    const session = await client.sessions.create({ name: 'stats' })
    await client.runs.enqueue({
      sessionId: session.id,
      runs: [
        ...Array.from({ length: 3 }, () => ({ kind: 'build', lane: 'A' as const, maxAttempts: 2 })),
        ...Array.from({ length: 4 }, () => ({ kind: 'deploy', lane: 'B' as const })),
      ],
    })
    await sql`update ops.runs set run_at = now() - interval '42 seconds' where kind = 'build'`
    const claimed = await client.worker.claim({
      workerId: 'stats-1',
      lanes: { A: 1, B: 4 },
      kinds: ['build', 'deploy'],
    })
    expect(claimed).toHaveLength(5)
    const deploys = claimed.filter((r) => r.kind === 'deploy')
    await client.worker.complete({
      workerId: 'stats-1',
      results: deploys.slice(0, 3).map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    await client.worker.fail({
      workerId: 'stats-1',
      failures: [
        {
          id: deploys[3]!.id,
          lease: deploys[3]!.lease as string,
          error: { type: 'boom', message: 'no' },
          retry: false,
        },
      ],
    })
    // The build it holds goes silent for 50 s and is recovered (back to the queue: it has attempts left).
    const build = claimed.find((r) => r.kind === 'build')!
    await sql`update ops.runs set heartbeat_at = now() - interval '50 seconds' where id = ${build.id}`
    const recovered = await client.worker.recoverStuck({ timeoutSeconds: 30 })
    expect(recovered.map((r) => r.id)).toEqual([build.id])
    // A second worker, silent for two minutes without having stopped.
    await client.worker.heartbeat({ workerId: 'stats-1', runs: [] })
    await client.worker.heartbeat({ workerId: 'stats-2', runs: [] })
    await sql`update ops.workers set last_seen_at = now() - interval '2 minutes' where id = 'stats-2'`
    // A third, silent for ten minutes (crashed long ago, runs recovered): no longer counted.
    await client.worker.heartbeat({ workerId: 'stats-3', runs: [] })
    await sql`update ops.workers set last_seen_at = now() - interval '10 minutes' where id = 'stats-3'`

    const s = await stats()
    expect(s.queues).toEqual([
      { lane: 'A', kind: 'build', queued: 3, running: 0, oldest_queued_seconds: expect.any(Number) },
    ])
    expect(s.queues[0]!.oldest_queued_seconds).toBeGreaterThanOrEqual(42)
    expect(s).toMatchObject({ queued: 3, running: 0, succeeded: 3, failed: 1, error_rate: 0.25 })
    expect(s.finished).toEqual([{ lane: 'B', kind: 'deploy', succeeded: 3, failed: 1, cancelled: 0 }])
    expect(s.recovery.count).toBe(1)
    expect(s.recovery.max_seconds).toBeGreaterThanOrEqual(50)
    expect(s.recovery.max_seconds).toBeLessThan(120)
    expect(s.workers).toMatchObject({ live: 1, stale: 1, health: 0.5 })

    // The client reads the same document, typed and in camelCase.
    const viaClient = await client.stats({ windowSeconds: 300 })
    expect(viaClient).toMatchObject({
      windowSeconds: 300,
      queued: 3,
      running: 0,
      succeeded: 3,
      failed: 1,
      errorRate: 0.25,
      queues: [{ lane: 'A', kind: 'build', queued: 3, running: 0 }],
      finished: [{ lane: 'B', kind: 'deploy', succeeded: 3, failed: 1, cancelled: 0 }],
      recovery: { count: 1 },
      workers: { live: 1, stale: 1, stoppedRecently: 0, health: 0.5 },
    })
    expect(viaClient.oldestQueuedSeconds).toBeGreaterThanOrEqual(42)
    await expect(client.stats({ windowSeconds: 0 })).rejects.toMatchObject({ code: 'validation' })
  })

  it('refuses a window outside 1 s to 7 days, and anon', async () => {
    await expect(stats('0 seconds')).rejects.toMatchObject({ code: 'OPVAL' })
    await expect(stats('8 days')).rejects.toMatchObject({ code: 'OPVAL' })
    await expect(
      ctx.sql.begin(async (tx) => {
        await tx`set local role anon`
        await tx`select ops.queue_stats()`
      }),
    ).rejects.toMatchObject({ code: '42501' })
  })
})

describe('retention', () => {
  it('purges old finished runs with their events in batches, keeps runs with artifacts, and old workers', async () => {
    const { client, sql } = ctx
    const session = await client.sessions.create({ name: 'retention' })
    const runs = await client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 7 }, () => ({ kind: 'old', lane: 'C' as const })),
    })
    const claimed = await client.worker.claim({ workerId: 'ret-1', lanes: { C: 7 }, kinds: ['old'] })
    await client.worker.complete({
      workerId: 'ret-1',
      results: claimed.slice(0, 6).map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    await sql`insert into ops.run_events (run_id, message) values (${claimed[0]!.id}, 'kept with its run')`
    await sql`insert into ops.artifacts (run_id, name, kind, text_content) values (${claimed[1]!.id}, 'note', 'text', 'x')`
    // Six finished 100 days ago (one has an artifact); the seventh still runs.
    await sql`update ops.runs set finished_at = now() - interval '100 days' where session_id = ${session.id} and status = 'succeeded'`

    const purge = (limit: number) =>
      asService(async (tx) => (await tx`select ops.purge_old_runs(null, ${limit}) as n`)[0]?.n as number)
    expect(await purge(2)).toBe(2)
    expect(await purge(2)).toBe(2)
    expect(await purge(2)).toBe(1)
    expect(await purge(2)).toBe(0)
    const left = await sql`select id, status from ops.runs where session_id = ${session.id} order by seq`
    expect(left.map((r) => r.id).sort()).toEqual([claimed[1]!.id, claimed[6]!.id].sort())
    const [events] = await sql`select count(*)::int as n from ops.run_events where run_id = ${claimed[0]!.id}`
    expect(events?.n).toBe(0)
    expect(runs).toHaveLength(7)

    // A shorter retention through the setting; workers silent longer than it go too.
    await client.worker.heartbeat({ workerId: 'ret-old', runs: [] })
    await client.worker.heartbeat({ workerId: 'ret-new', runs: [] })
    await sql`update ops.workers set last_seen_at = now() - interval '8 days' where id = 'ret-old'`
    const result = await sql.begin(async (tx) => {
      await tx`set local ops.retention_days = '7'`
      await tx`set local role service_role`
      return (await tx`select ops.purge_retention(1000, 10) as r`)[0]?.r
    })
    expect(result).toMatchObject({ workers: expect.any(Number) })
    const workers = await sql`select id from ops.workers where id like 'ret-%'`
    expect(workers.map((w) => w.id)).toEqual(['ret-new'])
  })

  it('refuses a retention shorter than an hour and a setting that is not a number of days', async () => {
    await expect(
      asService((tx) => tx`select ops.purge_old_runs(interval '5 minutes')`),
    ).rejects.toMatchObject({ code: 'OPVAL' })
    await expect(
      ctx.sql.begin(async (tx) => {
        await tx`set local ops.retention_days = 'forever'`
        await tx`set local role service_role`
        await tx`select ops.purge_retention()`
      }),
    ).rejects.toMatchObject({ code: 'OPVAL' })
  })
})
