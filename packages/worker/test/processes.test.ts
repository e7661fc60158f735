import { readdirSync, readFileSync } from 'node:fs'
import type { Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createShellHandler,
  createWorker,
  DEFAULT_SHELL_ENV,
  defineHandler,
  shellHandler,
} from '../src/index'
import { setupDatabase, startWorkerProcess, type WorkerProcess, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
const processes: WorkerProcess[] = []
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(async () => {
  for (const p of processes)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await Promise.all(processes.map((p) => p.exited))
  await ctx.teardown()
})

/** Processes of a process group that are still alive (zombies, dead but not yet reaped, excluded). */
function liveMembersOfGroup(pgid: number): number[] {
  const live: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    // Fields after the parenthesised command: state, ppid, pgrp, …
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') live.push(Number(entry))
  }
  return live
}

const baseEnv = () => ({
  DATABASE_URL: ctx.db.url,
  OPS_HANDLERS: 'test/fixtures/handlers.ts',
  OPS_DB_POOL: '4',
  // These tests name each process and look for that name in the database.
  OPS_WORKER_ID_SUFFIX: 'false',
})

describe('with real worker processes', () => {
  it('4 processes drain 2,000 runs exactly once', async () => {
    const { client, sql } = ctx
    await sql`create table exactly_once (run_id uuid primary key, worker_id text not null)`
    const workers = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        startWorkerProcess({
          ...baseEnv(),
          WORKER_ID: `drain-${i}`,
          OPS_CONCURRENCY: '5',
          OPS_POLL_INTERVAL_MS: '500',
        }),
      ),
    )
    processes.push(...workers)
    const session = await client.sessions.create({ name: 'exactly once' })
    for (let i = 0; i < 2; i++) {
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: 1000 }, (_, n) => ({
          kind: 'record',
          lane: (['A', 'B', 'C', 'D'] as const)[n % 4],
        })),
      })
    }
    await waitFor(
      '2,000 runs to finish',
      async () => {
        const [row] =
          await sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status in ('succeeded', 'failed', 'cancelled')`
        return row?.n === 2000
      },
      90_000,
      200,
    )
    const [counts] = await sql`
      select count(*) filter (where status = 'succeeded')::int as ok,
             count(*) filter (where attempt <> 1)::int as reattempted,
             (select count(*)::int from exactly_once) as recorded,
             (select count(distinct worker_id)::int from exactly_once) as workers
      from ops.runs where session_id = ${session.id}`
    // A second execution of any run would have hit the unique constraint and failed that run.
    expect(counts).toEqual({ ok: 2000, reattempted: 0, recorded: 2000, workers: 4 })
    const [missing] = await sql`
      select count(*)::int as n from ops.runs r
      where r.session_id = ${session.id} and not exists (select 1 from exactly_once e where e.run_id = r.id)`
    expect(missing?.n).toBe(0)

    // A clean SIGTERM stops each process gracefully; the fleet is marked stopped.
    for (const w of workers) w.child.kill('SIGTERM')
    const exits = await Promise.all(workers.map((w) => w.exited))
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0])
    const stopped = await sql`select id from ops.workers where id like 'drain-%' and stopped_at is not null`
    expect(stopped).toHaveLength(4)
  })

  it('recovers the runs of a SIGKILLed worker within the heartbeat timeout plus the sweep interval', async () => {
    const { client, sql } = ctx
    const heartbeatTimeoutSeconds = 3
    const heartbeatIntervalMs = 500
    const sweepIntervalMs = 1000
    const victim = await startWorkerProcess({
      ...baseEnv(),
      WORKER_ID: 'victim',
      OPS_LANES: 'A',
      OPS_HEARTBEAT_INTERVAL_MS: String(heartbeatIntervalMs),
      OPS_SWEEP_INTERVAL_MS: '0',
    })
    processes.push(victim)
    const session = await client.sessions.create({ name: 'crash' })
    const [retryable, final] = (await client.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'hang', lane: 'A', maxAttempts: 2 },
        { kind: 'hang', lane: 'A', maxAttempts: 1 },
      ],
    })) as [Run, Run]
    await waitFor('the victim to hold both runs', async () => {
      const rows =
        await sql`select 1 from ops.runs where session_id = ${session.id} and status = 'running' and worker_id = 'victim'`
      return rows.length === 2
    })
    victim.child.kill('SIGKILL')
    const killedAt = Date.now()
    await victim.exited

    // A survivor in the fleet sweeps; on the second attempt the run succeeds there.
    const hang = defineHandler({
      kind: 'hang',
      input: z.object({}).passthrough(),
      run: (c) => ({ attempt: c.run.attempt }),
    })
    const survivor = createWorker({
      client,
      workerId: 'survivor',
      lanes: ['A'],
      handlers: [hang],
      heartbeatTimeoutSeconds,
      sweepIntervalMs,
      heartbeatIntervalMs,
      pollIntervalMs: 500,
    })
    await survivor.start()
    try {
      const done = await waitFor('the retryable run to succeed elsewhere', async () => {
        const r = await client.runs.get(retryable.id)
        return r.status === 'succeeded' ? r : undefined
      })
      expect(done).toMatchObject({ attempt: 2, workerId: 'survivor', result: { attempt: 2 } })
      const failed = await waitFor('the final run to fail', async () => {
        const r = await client.runs.get(final.id)
        return r.status === 'failed' ? r : undefined
      })
      expect(failed.error).toMatchObject({ type: 'heartbeat_timeout', context: { worker_id: 'victim' } })

      const recovered = await sql`
        select e.run_id, e.created_at, (e.data ->> 'heartbeat_at')::timestamptz as heartbeat_at
        from ops.run_events e join ops.runs r on r.id = e.run_id
        where r.session_id = ${session.id} and e.type = 'run:recovered'`
      expect(recovered).toHaveLength(2)
      const sweepMaxMs = sweepIntervalMs * 1.25
      for (const r of recovered) {
        const recoveredAt = new Date(r.created_at as string).getTime()
        const lastBeat = new Date(r.heartbeat_at as string).getTime()
        // The lease was honoured: no recovery before the timeout after the last heartbeat…
        expect(recoveredAt - lastBeat).toBeGreaterThanOrEqual(heartbeatTimeoutSeconds * 1000)
        // …and recovery came at most one sweep after it (plus scheduling slack on a busy machine).
        expect(recoveredAt - lastBeat).toBeLessThanOrEqual(heartbeatTimeoutSeconds * 1000 + sweepMaxMs + 1000)
        // Measured from the kill: the last heartbeat was at most one interval before it.
        expect(recoveredAt - killedAt).toBeLessThanOrEqual(heartbeatTimeoutSeconds * 1000 + sweepMaxMs + 1000)
        expect(recoveredAt - killedAt).toBeGreaterThanOrEqual(
          heartbeatTimeoutSeconds * 1000 - heartbeatIntervalMs - 250,
        )
      }
    } finally {
      await survivor.stop()
    }
  })

  it('kills the shell handler’s whole process tree on cancel, escalating to SIGKILL', async () => {
    const { client, sql } = ctx
    const worker = createWorker({ client, lanes: ['B'], handlers: [shellHandler], heartbeatIntervalMs: 1000 })
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'shell cancel' })
      // The shell and its two sleeping children ignore SIGTERM: only the SIGKILL ends them.
      const [run] = (await client.runs.enqueue({
        sessionId: session.id,
        runs: [
          {
            kind: 'shell',
            lane: 'B',
            params: {
              command: 'sh',
              args: ['-c', 'trap \'\' TERM; sleep 300 & sleep 300 & echo "pgid $$"; wait'],
              killGraceMs: 300,
            },
          },
        ],
      })) as [Run]
      const pgid = await waitFor('the shell to print its pid', async () => {
        const [row] =
          await sql`select message from ops.run_events where run_id = ${run.id} and type = 'shell:stdout'`
        return row ? Number(String(row.message).split(' ')[1]) : undefined
      })
      expect(liveMembersOfGroup(pgid)).toHaveLength(3)
      await client.runs.cancel(run.id)
      await waitFor(
        'the run to end cancelled',
        async () => (await client.runs.get(run.id)).status === 'cancelled',
      )
      expect(liveMembersOfGroup(pgid)).toEqual([])
      const types = (await client.events.list({ runId: run.id })).map((e) => `${e.type} ${e.message}`)
      expect(types).toContain(`shell:kill sending SIGTERM to process group ${pgid}`)
      expect(types).toContain(`shell:kill sending SIGKILL to process group ${pgid}`)
    } finally {
      await worker.stop()
    }
  })

  it('runs shell commands without a shell, streams lines, and fails with the exit code in context', async () => {
    const { client } = ctx
    const worker = createWorker({ client, lanes: ['C'], handlers: [shellHandler], heartbeatIntervalMs: 1000 })
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'shell' })
      const [ok, bad, literal] = (await client.runs.enqueue({
        sessionId: session.id,
        runs: [
          {
            kind: 'shell',
            lane: 'C',
            params: {
              command: 'sh',
              args: ['-c', 'echo one; echo two >&2; echo "$GREETING"'],
              env: { GREETING: 'hi' },
            },
          },
          { kind: 'shell', lane: 'C', params: { command: 'sh', args: ['-c', 'echo broken >&2; exit 3'] } },
          // Without shell: true, `$HOME; exit 1` is one literal argument, never interpreted.
          { kind: 'shell', lane: 'C', params: { command: 'echo', args: ['$HOME; exit 1'] } },
        ],
      })) as [Run, Run, Run]
      const done = async (id: string) =>
        waitFor(`run ${id}`, async () => {
          const r = await client.runs.get(id)
          return ['succeeded', 'failed'].includes(r.status) ? r : undefined
        })
      expect(await done(ok.id)).toMatchObject({
        status: 'succeeded',
        result: { exitCode: 0, stdoutLines: 2, stderrLines: 1 },
      })
      const okEvents = (await client.events.list({ runId: ok.id })).filter((e) => e.type.startsWith('shell:'))
      expect(okEvents.map((e) => [e.type, e.message])).toEqual(
        expect.arrayContaining([
          ['shell:stdout', 'one'],
          ['shell:stderr', 'two'],
          ['shell:stdout', 'hi'],
        ]),
      )
      expect(await done(bad.id)).toMatchObject({
        status: 'failed',
        error: { type: 'exit_code', context: { exitCode: 3, stderrTail: ['broken'] } },
      })
      const lit = await done(literal.id)
      expect(lit.status).toBe('succeeded')
      const [line] = (await client.events.list({ runId: literal.id })).filter(
        (e) => e.type === 'shell:stdout',
      )
      expect(line?.message).toBe('$HOME; exit 1')
    } finally {
      await worker.stop()
    }
  })
})

describe('who may run what, on the worker', () => {
  it('ops-worker registers no handler unless OPS_HANDLERS names one (no shell by default)', async () => {
    const err = await startWorkerProcess({ DATABASE_URL: ctx.db.url, OPS_HANDLERS: '' }).catch((e) => e)
    expect(String(err)).toMatch(/exited \(2\).*set OPS_HANDLERS/s)
  })

  it('the shell handler passes an allow-listed environment and redacts the worker’s secrets from output', async () => {
    const { client } = ctx
    const workerEnv = {
      PATH: process.env.PATH,
      HOME: '/tmp',
      DATABASE_URL: 'postgres://ops:hunter2-very-secret@db.internal:5432/ops',
      STRIPE_API_KEY: 'not-a-real-key-but-a-secret-one',
      AWS_REGION: 'eu-west-1',
    }
    const handler = createShellHandler({ workerEnv, inheritEnv: [...DEFAULT_SHELL_ENV, 'AWS_REGION'] })
    const worker = createWorker({ client, lanes: ['D'], handlers: [handler], heartbeatIntervalMs: 1000 })
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'shell env' })
      const [run] = await client.runs.enqueue({
        sessionId: session.id,
        runs: [
          {
            kind: 'shell',
            lane: 'D',
            params: {
              command: 'sh',
              // The command sees only the allow-list; echoing a secret it was handed some other way
              // (here: the run's own args, as if read from /proc) is blanked out all the same.
              args: [
                '-c',
                'env | sort; echo "db=$DATABASE_URL"; echo "leak: $0"; echo "pw: hunter2-very-secret" >&2; exit 1',
                'not-a-real-key-but-a-secret-one',
              ],
            },
          },
        ],
      })
      const done = await waitFor('the shell run', async () => {
        const r = await client.runs.get(run!.id)
        return r.status === 'failed' ? r : undefined
      })
      const lines = (await client.events.list({ runId: run!.id }))
        .filter((e) => e.type === 'shell:stdout' || e.type === 'shell:stderr')
        .map((e) => e.message)
      const names = lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0])
      // `sh` adds PWD (and may add SHLVL, _) itself; nothing of the worker's besides the allow-list.
      expect(names.filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n as string)).sort()).toEqual([
        'AWS_REGION',
        'HOME',
        'PATH',
      ])
      expect(lines).toContain('db=')
      expect(lines).toContain('leak: [redacted]')
      expect(lines).toContain('pw: [redacted]')
      expect(JSON.stringify(lines)).not.toMatch(/hunter2|not-a-real-key/)
      expect(done.error?.context).toMatchObject({ stderrTail: ['pw: [redacted]'] })
    } finally {
      await worker.stop()
    }
  })
})
