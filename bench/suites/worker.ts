/**
 * Worker benchmark: drain throughput, pickup latency, cancel latency and crash recovery, each measured
 * against real `createWorker` processes on an embedded PostgreSQL with default durability settings
 * (fsync and synchronous_commit on). Handlers are no-ops; every run keeps its full history (status
 * changes and run_events rows), as in production.
 *
 * The same file is the worker process: with BENCH_WORKER_CHILD set it runs a worker until SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const now = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------------------------------
// Child: one worker process.

async function child() {
  const { createOpsClient, LANES } = await import('@ops-control-room/core')
  const { postgresBackend } = await import('@ops-control-room/core/postgres')
  const { createWorker, defineHandler } = await import('../../packages/worker/src/index.ts')
  const { z } = await import('zod')
  const env = process.env
  const report = env.BENCH_REPORT === '1'
  const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`)
  const noop = defineHandler({
    kind: 'noop',
    input: z.object({}).passthrough(),
    run: (ctx) => {
      if (report) say({ event: 'start', runId: ctx.run.id, at: now() })
      return null
    },
  })
  const wait = defineHandler({
    kind: 'wait',
    input: z.object({}).passthrough(),
    run: (ctx) =>
      new Promise((_, reject) => {
        if (report) say({ event: 'start', runId: ctx.run.id, at: now() })
        ctx.signal.addEventListener('abort', () => {
          if (report) say({ event: 'abort', runId: ctx.run.id, at: now() })
          reject(ctx.signal.reason)
        })
      }),
  })
  const client = createOpsClient({
    backend: postgresBackend({ databaseUrl: env.DATABASE_URL as string, max: Number(env.BENCH_POOL ?? 10) }),
  })
  const worker = createWorker({
    client,
    workerId: env.WORKER_ID,
    lanes: (env.BENCH_LANES?.split(',') as (typeof LANES)[number][] | undefined) ?? ['A'],
    concurrency: Number(env.BENCH_CONCURRENCY ?? 10),
    handlers: [noop, wait],
    ...(env.BENCH_SWEEP === '0' ? { sweepIntervalMs: false as const } : {}),
  })
  worker.on('error', (e) => process.stderr.write(`worker error: ${e.message}\n`))
  await worker.start()
  say({ event: 'ready', workerId: worker.id })
  process.once('SIGTERM', () => {
    void worker
      .stop()
      .then(() => client.close())
      .then(() => process.exit(0))
  })
}

// ---------------------------------------------------------------------------------------------------
// Parent.

interface Proc {
  child: ChildProcess
  lines: (fn: (o: Record<string, unknown>) => void) => void
  exited: Promise<void>
}

async function spawnWorker(env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    cwd: here,
    env: {
      ...process.env,
      ...env,
      BENCH_WORKER_CHILD: '1',
      // Resolve workspace packages to their sources, as the tests do.
      TSX_TSCONFIG_PATH: resolve(repo, 'packages/worker/tsconfig.json'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const listeners: ((o: Record<string, unknown>) => void)[] = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      const o = JSON.parse(line) as Record<string, unknown>
      for (const l of listeners) l(o)
    } catch {
      // not ours
    }
  })
  const exited = new Promise<void>((r) => child.on('exit', () => r()))
  await new Promise<void>((resolveReady, reject) => {
    listeners.push((o) => {
      if (o.event === 'ready') resolveReady()
    })
    void exited.then(() => reject(new Error('worker process exited before it was ready')))
  })
  return { child, lines: (fn) => listeners.push(fn), exited }
}

async function stopWorkers(procs: Proc[]) {
  for (const p of procs) p.child.kill('SIGTERM')
  await Promise.all(procs.map((p) => p.exited))
}

const pct = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number)
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d

async function parent() {
  const { createOpsClient } = await import('@ops-control-room/core')
  const { migrate, postgresBackend } = await import('@ops-control-room/core/postgres')
  const { startEmbeddedPostgres } = await import('@ops-control-room/testing')
  const postgres = (await import('postgres')).default
  const only = process.env.BENCH_WORKER_ONLY?.split(',')

  const pg = await startEmbeddedPostgres()
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin.unsafe('create database bench')
  await admin.end()
  const url = pg.urlFor('bench')
  await migrate({ databaseUrl: url, migrationsDir: resolve(repo, 'supabase/migrations') })
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: url }) })
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  const results: Record<string, unknown> = {}
  const rows: [string, string][] = []

  async function drain(name: string, runs: number, processes: number, concurrency: number) {
    if (only && !only.includes(name)) return
    const session = await client.sessions.create({ name })
    for (let i = 0; i < runs; i += 10_000) {
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: Math.min(10_000, runs - i) }, () => ({
          kind: 'noop',
          lane: 'A' as const,
        })),
      })
    }
    await sql`vacuum analyze ops.runs`
    const procs = await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        spawnWorker({ DATABASE_URL: url, WORKER_ID: `${name}-${i}`, BENCH_CONCURRENCY: String(concurrency) }),
      ),
    )
    for (;;) {
      const [row] = await sql`select count(*)::int as n from ops.runs where status in ('queued', 'running')`
      if (row?.n === 0) break
      await new Promise((r) => setTimeout(r, 250))
    }
    await stopWorkers(procs)
    const [t] = await sql`
      select count(*) filter (where status = 'succeeded')::int as ok,
        extract(epoch from max(finished_at) - min(claimed_at)) as seconds
      from ops.runs where session_id = ${session.id}`
    const [ev] = await sql`
      select count(*)::int as n from ops.run_events e join ops.runs r on r.id = e.run_id where r.session_id = ${session.id}`
    const seconds = Number(t?.seconds)
    const perSecond = Math.round(runs / seconds)
    results[name] = {
      runs,
      processes,
      concurrency,
      succeeded: t?.ok,
      seconds: round(seconds, 3),
      runsPerSecond: perSecond,
      events: ev?.n,
    }
    rows.push([`drain ${name}`, `${perSecond} runs/s (${runs} runs in ${round(seconds)} s, ${ev?.n} events)`])
    console.log(`drain ${name}: ${perSecond} runs/s`)
    await sql`delete from ops.sessions where id = ${session.id}`
    await sql`vacuum ops.runs`
  }

  async function latencies() {
    if (only && !only.includes('latency')) return
    const proc = await spawnWorker({
      DATABASE_URL: url,
      WORKER_ID: 'latency',
      BENCH_REPORT: '1',
      BENCH_CONCURRENCY: '10',
    })
    const started = new Map<string, number>()
    const aborted = new Map<string, number>()
    proc.lines((o) => {
      if (o.event === 'start') started.set(String(o.runId), Number(o.at))
      if (o.event === 'abort') aborted.set(String(o.runId), Number(o.at))
    })
    const until = async (what: () => boolean) => {
      const deadline = Date.now() + 10_000
      while (!what()) {
        if (Date.now() > deadline) throw new Error('timed out')
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    const session = await client.sessions.create({ name: 'latency' })
    // Warm up connections and code paths.
    for (let i = 0; i < 20; i++) {
      const [run] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'noop', lane: 'A' }] })
      await until(() => started.has(run?.id as string))
    }
    const pickup: number[] = []
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 10))
      const t0 = now()
      const [run] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'noop', lane: 'A' }] })
      await until(() => started.has(run?.id as string))
      pickup.push((started.get(run?.id as string) as number) - t0)
    }
    const cancel: number[] = []
    for (let i = 0; i < 100; i++) {
      const [run] = await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'wait', lane: 'A' }] })
      const id = run?.id as string
      await until(() => started.has(id))
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 10))
      const t0 = now()
      await client.runs.cancel(id)
      await until(() => aborted.has(id))
      cancel.push((aborted.get(id) as number) - t0)
    }
    await stopWorkers([proc])
    pickup.sort((a, b) => a - b)
    cancel.sort((a, b) => a - b)
    results.pickupMs = {
      samples: pickup.length,
      p50: round(pct(pickup, 50)),
      p95: round(pct(pickup, 95)),
      p99: round(pct(pickup, 99)),
    }
    results.cancelMs = { samples: cancel.length, p50: round(pct(cancel, 50)), p95: round(pct(cancel, 95)) }
    rows.push([
      'pickup latency (enqueue → handler start)',
      `p50 ${round(pct(pickup, 50))} ms · p95 ${round(pct(pickup, 95))} ms · p99 ${round(pct(pickup, 99))} ms`,
    ])
    rows.push([
      'cancel latency (request → handler abort)',
      `p50 ${round(pct(cancel, 50))} ms · p95 ${round(pct(cancel, 95))} ms`,
    ])
  }

  // Calibration: a bare FOR UPDATE SKIP LOCKED queue (no history, no notifications) on the same
  // database at the same moment, so figures from a busy machine can be read against the references.
  async function calibration() {
    if (only && !only.includes('calibration')) return
    const n = 20_000
    await sql`create table if not exists bench_jobs (id bigint generated always as identity primary key, locked_by text, payload jsonb not null default '{}')`
    await sql`insert into bench_jobs (payload) select '{}'::jsonb from generate_series(1, ${n})`
    await sql`vacuum analyze bench_jobs`
    const conn = postgres(url, { max: 1, onnotice: () => {} })
    const t0 = now()
    let done = 0
    for (;;) {
      const jobs = await conn`
        update bench_jobs set locked_by = 'bare' where id in (
          select id from bench_jobs where locked_by is null order by id limit 10 for update skip locked)
        returning id`
      if (jobs.length === 0) break
      await conn`delete from bench_jobs where id = any(${conn.array(jobs.map((j) => j.id as string))}::bigint[])`
      done += jobs.length
    }
    const seconds = (now() - t0) / 1000
    await conn.end()
    const perSecond = Math.round(done / seconds)
    results.bareSkipLockedPerSecond = perSecond
    rows.push(['calibration: bare SKIP LOCKED loop, 10 at a time, 1 connection', `${perSecond} jobs/s`])
  }

  async function recovery() {
    if (only && !only.includes('recovery')) return
    // Default settings: 5 s heartbeats, 30 s heartbeat timeout, 4 s ±25 % sweeps.
    const victim = await spawnWorker({ DATABASE_URL: url, WORKER_ID: 'victim', BENCH_SWEEP: '0' })
    const session = await client.sessions.create({ name: 'recovery' })
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'wait', lane: 'A', maxAttempts: 2 }],
    })
    for (;;) {
      if ((await client.runs.get(run?.id as string)).status === 'running') break
      await new Promise((r) => setTimeout(r, 20))
    }
    const survivor = await spawnWorker({ DATABASE_URL: url, WORKER_ID: 'survivor', BENCH_LANES: 'B' })
    // Let the victim heartbeat at a random point of its interval, as a real crash would.
    await new Promise((r) => setTimeout(r, Math.random() * 5000))
    victim.child.kill('SIGKILL')
    const t0 = now()
    await victim.exited
    for (;;) {
      const r = await client.runs.get(run?.id as string)
      if (r.status !== 'running') break
      await new Promise((res) => setTimeout(res, 20))
    }
    const seconds = (now() - t0) / 1000
    await stopWorkers([survivor])
    results.recoverySeconds = round(seconds, 2)
    rows.push(['crash recovery (SIGKILL → recovered), default 30 s timeout', `${round(seconds, 2)} s`])
  }

  try {
    await calibration()
    await latencies()
    await drain('c10-20k', 20_000, 1, 10)
    await drain('c100-20k', 20_000, 1, 100)
    await drain('2proc-c100-20k', 20_000, 2, 100)
    await drain('c10-100k', 100_000, 1, 10)
    await drain('c100-100k', 100_000, 1, 100)
    await drain('2proc-c100-100k', 100_000, 2, 100)
    await recovery()
  } finally {
    await client.close()
    await sql.end()
    await pg.stop()
  }
  const width = Math.max(...rows.map(([k]) => k.length))
  console.log('\nworker benchmark (embedded PostgreSQL 18, default durability, noop handler, lane A)')
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`)
  console.log(`BENCH_JSON ${JSON.stringify({ suite: 'worker', ...results })}`)
}

if (process.env.BENCH_WORKER_CHILD) await child()
else await parent()
