/**
 * Worker benchmark: drain throughput, pickup latency, cancel latency and crash recovery, each measured
 * against real `createWorker` processes on an embedded PostgreSQL with default durability settings
 * (fsync and synchronous_commit on). Handlers are no-ops; every run keeps its full history (status
 * changes and run_events rows), as in production.
 *
 * Beside it, graphile-worker 0.17.3 (a devDependency of this package only) runs the same no-op jobs
 * on the same PostgreSQL, interleaved round by round, and the suite prints the ratios of issue 15:
 * drain at concurrency 10 against graphile's defaults, drain at concurrency 100 against graphile's
 * batched mode (localQueue 500, batched completion), pickup p50/p99 of single enqueues on an idle
 * worker, and WAL bytes written per run (pg_current_wal_lsn before the enqueue and after the drain,
 * all of it and without full-page images, by pg_walinspect).
 *
 * Pickup samples alternate between the two workers, both idle side by side. BENCH_WORKER_ONLY=pickup
 * measures the pickup alone (BENCH_ROUNDS rounds of BENCH_PICKUP_SAMPLES pairs).
 *
 * BENCH_WORKER_ONLY=cpu (only when named) drains BENCH_CPU_RUNS (30,000) runs at concurrency 100 and
 * prints the CPU the worker process and PostgreSQL's processes spent per run (Linux /proc).
 *
 * The worker processes run the builds of core and worker, as a user's would (the suite builds both
 * first); BENCH_SOURCES=1 runs their sources through tsx instead.
 *
 * Knobs: BENCH_WORKER_ONLY=calibration,latency,compare,pickup,hops,heartbeat,cpu,c10-20k,… picks parts; BENCH_ROUNDS (3),
 * BENCH_COMPARE_RUNS (20000) and BENCH_PICKUP_SAMPLES (100 per round) size the comparison;
 * BENCH_WORKER_LARGE=0 skips the 100,000-run drains; BENCH_MIGRATIONS_BEFORE=<timestamp> migrates without
 * the migrations from that one on, for a before/after pair; BENCH_PREFETCH=0 runs the workers without
 * claim-ahead; BENCH_HANDOFF=0 without the hand-off to waiting workers; BENCH_WAL_LEVEL=logical runs PostgreSQL as
 * Supabase does; BENCH_ANALYZE=0 leaves the queue tables without fresh statistics (by default both sides'
 * tables are analyzed after the enqueue, as autovacuum does in production: a claim plan chosen on
 * statistics is what a real queue runs).
 *
 * BENCH_WORKER_ONLY=hops times one round of the pickup hop by hop: both worker processes note when each of
 * their sockets reads and writes, and the parent splits each pickup at the NOTIFY's arrival, the claim's
 * write and its first answer (the hooks cost both sides alike, so these figures are not the pickup's).
 * A run handed to an Ops worker with the NOTIFY has no claim: its pickup splits at the NOTIFY only.
 *
 * The same file is the worker process: with BENCH_WORKER_CHILD set it runs a worker until SIGTERM
 * (graphile-worker's when BENCH_GRAPHILE is set too).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const now = () => performance.timeOrigin + performance.now()

/**
 * With BENCH_HOPS=1 a worker process notes when its sockets (not stdout) read and write; `take()`
 * hands over what was noted since the last call.
 */
function socketHops() {
  if (process.env.BENCH_HOPS !== '1') return undefined
  let reads: number[] = []
  let writes: number[] = []
  const write = Socket.prototype.write
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (this !== (process.stdout as unknown)) writes.push(now())
    return (write as (...a: unknown[]) => boolean).apply(this, args)
  } as typeof write
  const emit = Socket.prototype.emit
  Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: unknown[]) {
    if (event === 'data' && this !== (process.stdin as unknown)) reads.push(now())
    return emit.call(this, event, ...args)
  } as typeof emit
  return {
    take() {
      const taken = { reads, writes }
      reads = []
      writes = []
      return taken
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// Child: one worker process.

async function child() {
  const env = process.env
  // The packages as they ship (their builds, which the parent makes first), as graphile-worker runs
  // its own build. BENCH_SOURCES=1 runs the sources through tsx instead, whose transform adds a name
  // to every function it creates (esbuild's keepNames): 2-4 % of the worker's CPU at concurrency 100.
  const sources = env.BENCH_SOURCES === '1'
  const { createOpsClient, LANES } = (
    sources ? await import('@ops-control-room/core') : await import('../../packages/core/dist/index.js')
  ) as typeof import('@ops-control-room/core')
  const { postgresBackend } = (
    sources
      ? await import('@ops-control-room/core/postgres')
      : await import('../../packages/core/dist/postgres.js')
  ) as typeof import('@ops-control-room/core/postgres')
  const { createWorker, defineHandler } = (
    sources
      ? await import('../../packages/worker/src/index.ts')
      : await import('../../packages/worker/dist/index.js')
  ) as typeof import('../../packages/worker/src/index.ts')
  const { z } = await import('zod')
  const report = env.BENCH_REPORT === '1'
  const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`)
  const hops = socketHops()
  if (env.BENCH_GRAPHILE) return graphileChild(say, hops)
  // BENCH_EXPECT: say `handled` once that many no-op handlers ran, so that the parent reads the
  // database only at the end of a drain, as it does for graphile-worker (its `job:complete` count).
  const expect = Number(env.BENCH_EXPECT ?? 0)
  let handled = 0
  const noop = defineHandler({
    kind: 'noop',
    input: z.object({}).passthrough(),
    run: (ctx) => {
      if (report) say({ event: 'start', runId: ctx.run.id, at: now(), ...hops?.take() })
      if (++handled === expect) say({ event: 'handled' })
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
    // BENCH_PREFETCH=0 turns claim-ahead off (the default is on), for a before/after pair.
    ...(env.BENCH_PREFETCH === '0' ? { prefetch: false as const } : {}),
    // BENCH_HANDOFF=0 turns the hand-off to waiting workers off (the default is on), for a before/after pair.
    ...(env.BENCH_HANDOFF === '0' ? { handoff: false } : {}),
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

// graphile-worker 0.17.3 with the same no-op task, at its defaults or in its batched mode.
async function graphileChild(say: (o: Record<string, unknown>) => void, hops: ReturnType<typeof socketHops>) {
  const { Logger, run } = await import('graphile-worker')
  const env = process.env
  const report = env.BENCH_REPORT === '1'
  const expect = Number(env.BENCH_EXPECT ?? 0)
  const batched = env.BENCH_BATCHED === '1'
  let first = 0
  let completed = 0
  const runner = await run({
    connectionString: env.DATABASE_URL as string,
    concurrency: Number(env.BENCH_CONCURRENCY ?? 10),
    noHandleSignals: true,
    logger: new Logger(() => () => {}),
    taskList: {
      noop: async (_payload, helpers) => {
        if (report) say({ event: 'start', runId: String(helpers.job.id), at: now(), ...hops?.take() })
      },
    },
    preset: {
      worker: batched ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {},
    },
  })
  runner.events.on('job:start', () => {
    if (first === 0) first = now()
  })
  // Written back to the database: the same end point as a run's `finished_at`.
  runner.events.on('job:complete', () => {
    completed += 1
    if (completed === expect) say({ event: 'drained', first, last: now() })
  })
  say({ event: 'ready' })
  process.once('SIGTERM', () => {
    void runner.stop().then(() => process.exit(0))
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
  if (process.env.BENCH_SOURCES !== '1') {
    // The worker processes run the builds of core and worker: make them from the sources as they are.
    const built = spawnSync(
      'pnpm',
      ['--filter', '@ops-control-room/core', '--filter', '@ops-control-room/worker', 'build'],
      {
        cwd: repo,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    )
    if (built.status !== 0) throw new Error('building core and worker for the worker processes failed')
  }
  const { createOpsClient } = await import('@ops-control-room/core')
  const { migrate, postgresBackend } = await import('@ops-control-room/core/postgres')
  const { startEmbeddedPostgres } = await import('@ops-control-room/testing')
  const postgres = (await import('postgres')).default
  const only = process.env.BENCH_WORKER_ONLY?.split(',')

  // BENCH_WAL_LEVEL=logical measures what Supabase runs with (logical replication for Realtime): with
  // REPLICA IDENTITY FULL on ops.runs, every update then logs the whole old row as well.
  const walLevel = process.env.BENCH_WAL_LEVEL
  if (walLevel && !['minimal', 'replica', 'logical'].includes(walLevel))
    throw new TypeError(`BENCH_WAL_LEVEL must be minimal, replica or logical, not ${walLevel}`)
  const pg = await startEmbeddedPostgres(
    walLevel
      ? { settings: { wal_level: walLevel, ...(walLevel === 'minimal' ? { max_wal_senders: '0' } : {}) } }
      : {},
  )
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin.unsafe('create database bench')
  await admin.end()
  const url = pg.urlFor('bench')
  // BENCH_MIGRATIONS_BEFORE=<timestamp> leaves out the migrations from that one on: the "before" figures.
  const before = process.env.BENCH_MIGRATIONS_BEFORE
  let migrationsDir = resolve(repo, 'supabase/migrations')
  if (before) {
    const dir = await mkdtemp(join(tmpdir(), 'ops-worker-bench-migrations-'))
    for (const f of await readdir(migrationsDir))
      if (f < before) await cp(join(migrationsDir, f), join(dir, f))
    migrationsDir = dir
  }
  await migrate({ databaseUrl: url, migrationsDir })
  if (before) await rm(migrationsDir, { recursive: true, force: true })
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: url }) })
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  const results: Record<string, unknown> = {}
  const rows: [string, string][] = []

  /** `runs` no-op runs in lane A, enqueued 10,000 at a time, then the table analyzed. */
  async function enqueueNoops(sessionId: string, runs: number) {
    for (let i = 0; i < runs; i += 10_000) {
      await client.runs.enqueue({
        sessionId,
        runs: Array.from({ length: Math.min(10_000, runs - i) }, () => ({
          kind: 'noop',
          lane: 'A' as const,
        })),
      })
    }
    await sql`vacuum analyze ops.runs`
  }

  async function drain(name: string, runs: number, processes: number, concurrency: number) {
    if (only && !only.includes(name)) return
    const session = await client.sessions.create({ name })
    await enqueueNoops(session.id, runs)
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

  // BENCH_WORKER_ONLY=cpu: where a drain at concurrency 100 spends its CPU, from /proc (Linux): the
  // worker process's user + system time and every PostgreSQL process's, per run.
  async function cpuSplit() {
    if (!only?.includes('cpu')) return
    const runs = Number(process.env.BENCH_CPU_RUNS ?? 30_000)
    const ticksPerSecond = 100
    const ticks = (pid: number): number => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
        return Number(f[11]) + Number(f[12])
      } catch {
        return 0 // gone
      }
    }
    const master = Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const pgPids = () => [
      master,
      ...readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((pid) => {
          try {
            return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]) === master
          } catch {
            return false
          }
        }),
    ]
    const session = await client.sessions.create({ name: 'cpu' })
    await enqueueNoops(session.id, runs)
    const proc = await spawnWorker({ DATABASE_URL: url, WORKER_ID: 'cpu', BENCH_CONCURRENCY: '100' })
    const pid = proc.child.pid as number
    const before = new Map(pgPids().map((p) => [p, ticks(p)]))
    const workerBefore = ticks(pid)
    const started = performance.now()
    for (;;) {
      const [row] = await sql`select count(*)::int as n from ops.runs where status in ('queued', 'running')`
      if (row?.n === 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const seconds = (performance.now() - started) / 1000
    const workerTicks = ticks(pid) - workerBefore
    let pgTicks = 0
    for (const p of pgPids()) pgTicks += ticks(p) - (before.get(p) ?? 0)
    await stopWorkers([proc])
    const usPerRun = (t: number) => Math.round((t / ticksPerSecond / runs) * 1e6)
    results.cpu = {
      runs,
      seconds: round(seconds, 3),
      workerMicrosPerRun: usPerRun(workerTicks),
      postgresMicrosPerRun: usPerRun(pgTicks),
    }
    rows.push([
      `CPU per run, ${runs.toLocaleString('en')} runs at concurrency 100 (/proc)`,
      `worker ${usPerRun(workerTicks)} µs, PostgreSQL ${usPerRun(pgTicks)} µs (${Math.round(runs / seconds)} runs/s)`,
    ])
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
    const [level] = await sql`show wal_level`
    rows.push(['wal_level (BENCH_WAL_LEVEL)', String(level?.wal_level)])
  }

  // Side by side with graphile-worker 0.17.3: the same PostgreSQL, the same moment, rounds interleaved.
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b)
    const m = Math.floor(s.length / 2)
    return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
  }
  const walNow = async () => {
    const [w] = await sql`select pg_current_wal_lsn()::text as lsn`
    return String(w?.lsn)
  }
  // WAL since `lsn`, all of it and without full-page images (pg_walinspect): the images depend on when
  // the last checkpoint was (each drain starts right after one, the worst case), the rest does not.
  const walSince = async (lsn: string) => {
    const [w] = await sql`
      select pg_wal_lsn_diff(pg_current_wal_lsn(), ${lsn}::pg_lsn)::float8 as bytes,
        (select coalesce(sum(fpi_size), 0)::float8 from pg_get_wal_stats(${lsn}::pg_lsn, pg_current_wal_lsn())) as fpi`
    return { bytes: Number(w?.bytes), noFpi: Number(w?.bytes) - Number(w?.fpi) }
  }

  const analyze = process.env.BENCH_ANALYZE !== '0'
  /** Ops: enqueue `runs` no-op runs, drain them with one process; runs/s and WAL bytes per run. */
  async function opsDrain(runs: number, concurrency: number) {
    const session = await client.sessions.create({ name: `compare-c${concurrency}` })
    await sql`checkpoint`
    const lsn = await walNow()
    for (let i = 0; i < runs; i += 10_000) {
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: Math.min(10_000, runs - i) }, () => ({
          kind: 'noop',
          lane: 'A' as const,
        })),
      })
    }
    if (analyze) await sql`analyze ops.runs`
    const proc = await spawnWorker({
      DATABASE_URL: url,
      WORKER_ID: `compare-c${concurrency}`,
      BENCH_CONCURRENCY: String(concurrency),
      BENCH_EXPECT: String(runs),
    })
    // Polled only once every handler ran: a count over the session every 50 ms during the drain took
    // 4-5 ms of the server each time (a seq scan of 20,000 rows), which the graphile-worker drain,
    // timed by its own events, never paid.
    await new Promise<void>((res) =>
      proc.lines((o) => {
        if (o.event === 'handled') res()
      }),
    )
    for (;;) {
      const [row] = await sql`
        select count(*)::int as n from ops.runs
        where session_id = ${session.id} and status in ('queued', 'running')`
      if (row?.n === 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const wal = await walSince(lsn)
    await stopWorkers([proc])
    const [t] = await sql`
      select count(*) filter (where status = 'succeeded')::int as ok,
        extract(epoch from max(finished_at) - min(claimed_at))::float8 as seconds
      from ops.runs where session_id = ${session.id}`
    if (t?.ok !== runs) throw new Error(`ops drain: ${t?.ok} of ${runs} runs succeeded`)
    await sql`delete from ops.sessions where id = ${session.id}`
    await sql`vacuum ops.runs`
    return {
      perSecond: runs / Number(t?.seconds),
      walPerRun: wal.bytes / runs,
      walNoFpiPerRun: wal.noFpi / runs,
    }
  }

  /** graphile-worker: add `runs` no-op jobs (add_jobs, one call), drain them with one process. */
  async function graphileDrain(runs: number, concurrency: number, batched: boolean) {
    await sql`checkpoint`
    const lsn = await walNow()
    await sql`
      select count(*) from graphile_worker.add_jobs(array(
        select row('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
        from generate_series(1, ${runs})))`
    if (analyze) await sql`analyze graphile_worker._private_jobs`
    const proc = await spawnWorker({
      DATABASE_URL: url,
      BENCH_GRAPHILE: '1',
      BENCH_EXPECT: String(runs),
      BENCH_CONCURRENCY: String(concurrency),
      BENCH_BATCHED: batched ? '1' : '0',
    })
    const drained = await new Promise<{ first: number; last: number }>((res) =>
      proc.lines((o) => {
        if (o.event === 'drained') res({ first: Number(o.first), last: Number(o.last) })
      }),
    )
    for (;;) {
      const [row] = await sql`select count(*)::int as n from graphile_worker._private_jobs`
      if (row?.n === 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const wal = await walSince(lsn)
    await stopWorkers([proc])
    await sql`vacuum graphile_worker._private_jobs`
    return {
      perSecond: runs / ((drained.last - drained.first) / 1000),
      walPerRun: wal.bytes / runs,
      walNoFpiPerRun: wal.noFpi / runs,
    }
  }

  /**
   * Pickup: single enqueues on an idle worker (concurrency 10), enqueue call → handler start. Both
   * workers run side by side and the samples alternate (one Ops enqueue, then one graphile-worker
   * job), so a change in the machine's load hits both sides alike.
   */
  async function pickup(samples: number, withHops = false) {
    const hopsEnv: Record<string, string> = withHops ? { BENCH_HOPS: '1' } : {}
    const procs = {
      ops: await spawnWorker({
        DATABASE_URL: url,
        WORKER_ID: 'pickup-ops',
        BENCH_REPORT: '1',
        BENCH_CONCURRENCY: '10',
        ...hopsEnv,
      }),
      graphile: await spawnWorker({
        DATABASE_URL: url,
        WORKER_ID: 'pickup-graphile',
        BENCH_REPORT: '1',
        BENCH_CONCURRENCY: '10',
        BENCH_GRAPHILE: '1',
        ...hopsEnv,
      }),
    }
    const started = new Map<string, number>()
    const socketTimes = new Map<string, { reads: number[]; writes: number[] }>()
    for (const p of Object.values(procs))
      p.lines((o) => {
        if (o.event !== 'start') return
        started.set(String(o.runId), Number(o.at))
        if (o.reads) socketTimes.set(String(o.runId), o as unknown as { reads: number[]; writes: number[] })
      })
    // Each pickup split where its worker first read after the enqueue began (the NOTIFY), first wrote
    // after that (the claim) and first read after that (the claim's answer).
    const hops: Record<string, number[]> = {}
    const hop = (which: string, id: string, t0: number, t1: number) => {
      const times = socketTimes.get(id)
      const at = started.get(id) as number
      const notified = times?.reads.find((t) => t > t0)
      if (notified === undefined || notified > at) return
      // A run handed to the worker (Ops' hand-off) starts from the NOTIFY, with no claim before it.
      const written = times?.writes.find((t) => t > notified)
      const claimed = written !== undefined && written < at ? written : undefined
      const answered = claimed === undefined ? undefined : times?.reads.find((t) => t > claimed && t <= at)
      const add = (name: string, ms: number) => {
        hops[`${which}\t${name}`] = [...(hops[`${which}\t${name}`] ?? []), ms]
      }
      add('enqueue call → its answer', t1 - t0)
      add('enqueue call → NOTIFY read by the worker', notified - t0)
      if (claimed !== undefined && answered !== undefined) {
        add('NOTIFY → claim written', claimed - notified)
        add('claim written → first answer read', answered - claimed)
        add('answer → handler start', at - answered)
      } else {
        add('NOTIFY (the run handed with it) → handler start', at - notified)
      }
      add('total', at - t0)
    }
    const session = await client.sessions.create({ name: 'pickup' })
    const enqueue = async (which: 'ops' | 'graphile') => {
      if (which === 'ops') {
        const [run] = await client.runs.enqueue({
          sessionId: session.id,
          runs: [{ kind: 'noop', lane: 'A' }],
        })
        return run?.id as string
      }
      const [job] = await sql`select id::text from graphile_worker.add_job('noop', '{}'::json)`
      return String(job?.id)
    }
    const until = async (which: string, id: string) => {
      const deadline = Date.now() + 10_000
      while (!started.has(id)) {
        if (Date.now() > deadline) throw new Error(`${which} pickup timed out`)
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    const sides = ['ops', 'graphile'] as const
    for (let i = 0; i < 20; i++) for (const which of sides) await until(which, await enqueue(which))
    const ms = { ops: [] as number[], graphile: [] as number[] }
    for (let i = 0; i < samples; i++) {
      // Alternate which side goes first, so neither always follows the other's wake-ups.
      for (const which of i % 2 ? [...sides].reverse() : sides) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 10))
        const t0 = now()
        const id = await enqueue(which)
        const t1 = now()
        await until(which, id)
        ms[which].push((started.get(id) as number) - t0)
        if (withHops) hop(which, id, t0, t1)
      }
    }
    await stopWorkers(Object.values(procs))
    await sql`delete from ops.sessions where id = ${session.id}`
    const stats = (xs: number[]) => {
      xs.sort((a, b) => a - b)
      return { p50: pct(xs, 50), p99: pct(xs, 99) }
    }
    return { ops: stats(ms.ops), graphile: stats(ms.graphile), hops }
  }

  async function compare() {
    if (only && !only.includes('compare')) return
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
    const runs = Number(process.env.BENCH_COMPARE_RUNS ?? 20_000)
    const samples = Number(process.env.BENCH_PICKUP_SAMPLES ?? 100)
    const { runMigrations, Logger } = await import('graphile-worker')
    await sql`create extension if not exists pg_walinspect`
    await runMigrations({ connectionString: url, logger: new Logger(() => () => {}) })
    const m: Record<string, number[]> = {}
    const add = (k: string, v: number) => {
      m[k] = [...(m[k] ?? []), v]
    }
    for (let r = 0; r < rounds; r++) {
      const o10 = await opsDrain(runs, 10)
      const g10 = await graphileDrain(runs, 10, false)
      const o100 = await opsDrain(runs, 100)
      const gb = await graphileDrain(runs, 10, true)
      const { ops: op, graphile: gp } = await pickup(samples)
      add('ops c10', o10.perSecond)
      add('graphile default c10', g10.perSecond)
      add('ops c100', o100.perSecond)
      add('graphile batched', gb.perSecond)
      add('ops WAL/run c10', o10.walPerRun)
      add('graphile WAL/run default', g10.walPerRun)
      add('ops WAL/run c10 no FPI', o10.walNoFpiPerRun)
      add('graphile WAL/run default no FPI', g10.walNoFpiPerRun)
      add('ops WAL/run c100', o100.walPerRun)
      add('graphile WAL/run batched', gb.walPerRun)
      add('ops pickup p50', op.p50)
      add('ops pickup p99', op.p99)
      add('graphile pickup p50', gp.p50)
      add('graphile pickup p99', gp.p99)
      console.log(
        `compare round ${r + 1}/${rounds}: ops c10 ${Math.round(o10.perSecond)}/s vs graphile ${Math.round(g10.perSecond)}/s · ` +
          `ops c100 ${Math.round(o100.perSecond)}/s vs graphile batched ${Math.round(gb.perSecond)}/s · ` +
          `pickup p50 ${round(op.p50)} vs ${round(gp.p50)} ms · WAL/run ${Math.round(o10.walPerRun)} vs ${Math.round(g10.walPerRun)} B`,
      )
    }
    const md = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)])) as Record<string, number>
    const g = (k: string) => md[k] as number
    const ratios = {
      drainC10: g('ops c10') / g('graphile default c10'),
      drainC100VsBatched: g('ops c100') / g('graphile batched'),
      pickupP50: g('ops pickup p50') / g('graphile pickup p50'),
      pickupP99: g('ops pickup p99') / g('graphile pickup p99'),
      walPerRun: g('ops WAL/run c10') / g('graphile WAL/run default'),
      walNoFpiPerRun: g('ops WAL/run c10 no FPI') / g('graphile WAL/run default no FPI'),
    }
    results.compare = { rounds, runs, pickupSamplesPerRound: samples, medians: md, samples: m, ratios }
    const n = (x: number) => Math.round(x).toLocaleString('en-US')
    rows.push([
      `vs graphile-worker 0.17.3 (median of ${rounds} interleaved rounds, ${n(runs)} runs each)`,
      'ratio = Ops ÷ graphile; targets in brackets',
    ])
    rows.push([
      '  drain, 1 process, concurrency 10 vs default',
      `${n(g('ops c10'))} vs ${n(g('graphile default c10'))} /s → ${round(ratios.drainC10)}× [≥ 2.0×]`,
    ])
    rows.push([
      '  drain, concurrency 100 vs batched (localQueue 500)',
      `${n(g('ops c100'))} vs ${n(g('graphile batched'))} /s → ${round(ratios.drainC100VsBatched)}× [≥ 0.5×]`,
    ])
    rows.push([
      '  pickup p50 / p99, idle worker, single enqueues',
      `${round(g('ops pickup p50'))} / ${round(g('ops pickup p99'))} ms vs ${round(g('graphile pickup p50'))} / ${round(g('graphile pickup p99'))} ms → ${round(ratios.pickupP50)}× / ${round(ratios.pickupP99)}× [≤ 1.0×]`,
    ])
    rows.push([
      '  WAL per run (enqueue + drain, concurrency 10)',
      `${n(g('ops WAL/run c10'))} vs ${n(g('graphile WAL/run default'))} B → ${round(ratios.walPerRun)}× [≤ 1.5×]`,
    ])
    rows.push([
      '  … without full-page images',
      `${n(g('ops WAL/run c10 no FPI'))} vs ${n(g('graphile WAL/run default no FPI'))} B → ${round(ratios.walNoFpiPerRun)}×`,
    ])
    rows.push([
      '  WAL per run at concurrency 100 vs batched',
      `${n(g('ops WAL/run c100'))} vs ${n(g('graphile WAL/run batched'))} B`,
    ])
  }

  async function pickupOnly() {
    if (!only?.includes('pickup')) return
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
    const samples = Number(process.env.BENCH_PICKUP_SAMPLES ?? 100)
    const { runMigrations, Logger } = await import('graphile-worker')
    await runMigrations({ connectionString: url, logger: new Logger(() => () => {}) })
    const all = {
      ops: [] as number[],
      graphile: [] as number[],
      ops99: [] as number[],
      graphile99: [] as number[],
    }
    for (let r = 0; r < rounds; r++) {
      const p = await pickup(samples)
      all.ops.push(p.ops.p50)
      all.graphile.push(p.graphile.p50)
      all.ops99.push(p.ops.p99)
      all.graphile99.push(p.graphile.p99)
      console.log(
        `pickup round ${r + 1}/${rounds}: p50 ${round(p.ops.p50)} vs ${round(p.graphile.p50)} ms · p99 ${round(p.ops.p99)} vs ${round(p.graphile.p99)} ms`,
      )
    }
    const o = median(all.ops)
    const g = median(all.graphile)
    const o99 = median(all.ops99)
    const g99 = median(all.graphile99)
    results.pickup = { rounds, samples, ops: { p50: o, p99: o99 }, graphile: { p50: g, p99: g99 } }
    rows.push([
      `pickup p50 / p99 vs graphile-worker 0.17.3 (median of ${rounds} rounds, ${samples} pairs each)`,
      `${round(o)} / ${round(o99)} ms vs ${round(g)} / ${round(g99)} ms → ${round(o / g)}× / ${round(o99 / g99)}× [≤ 1.0×]`,
    ])
  }

  const hopFigure = (ms: number | undefined) => (ms === undefined ? '—' : String(round(ms)))

  async function pickupHops() {
    if (!only?.includes('hops')) return
    const samples = Number(process.env.BENCH_PICKUP_SAMPLES ?? 100)
    const { runMigrations, Logger } = await import('graphile-worker')
    await runMigrations({ connectionString: url, logger: new Logger(() => () => {}) })
    const { hops } = await pickup(samples, true)
    const medians: Record<string, number> = {}
    for (const [key, xs] of Object.entries(hops)) medians[key] = median(xs)
    results.pickupHops = { samples, medians }
    const names = [...new Set(Object.keys(hops).map((k) => k.split('\t')[1] as string))]
    rows.push([`pickup hop by hop (medians of ${samples} pairs, sockets hooked)`, 'ops vs graphile-worker'])
    for (const name of names) {
      rows.push([
        `  ${name}`,
        `${hopFigure(medians[`ops\t${name}`])} vs ${hopFigure(medians[`graphile\t${name}`])} ms`,
      ])
    }
  }

  // Liveness: what one heartbeat costs a worker that holds N running runs (ops.heartbeat names each
  // run and its lease), beside a beat of the worker's own row only (a per-worker lease). WAL without
  // full-page images (pg_walinspect), after a checkpoint, and the mean time of a beat.
  async function heartbeatCost() {
    if (only && !only.includes('heartbeat')) return
    await sql`create extension if not exists pg_walinspect`
    const session = await client.sessions.create({ name: 'heartbeat cost' })
    const beats = 50
    for (const n of [10, 100]) {
      await sql`
        insert into ops.runs (session_id, kind, lane)
        select ${session.id}, 'noop', 'D' from generate_series(1, ${n})`
      const held =
        await sql`select id, lease::text as lease from ops.claim_runs('bench-beat', '{D}', ${`{${n}}`}::int[], '{noop}')`
      const ids = sql.array(held.map((r) => r.id as string))
      const leases = sql.array(held.map((r) => r.lease as string))
      const measure = async (beat: () => Promise<unknown>) => {
        await sql`checkpoint`
        const lsn = await walNow()
        const t0 = now()
        for (let i = 0; i < beats; i++) await beat()
        const ms = (now() - t0) / beats
        const [w] = await sql`
          select coalesce(sum(record_size), 0)::float8 as bytes
          from pg_get_wal_stats(${lsn}::pg_lsn, pg_current_wal_lsn())`
        return { bytes: Number(w?.bytes) / beats, ms }
      }
      const perRun = await measure(
        () => sql`select * from ops.heartbeat('bench-beat', ${ids}::uuid[], ${leases}::bigint[])`,
      )
      const workerOnly = await measure(
        () => sql`select * from ops.heartbeat('bench-beat', '{}'::uuid[], '{}'::bigint[])`,
      )
      results[`heartbeat ${n} runs`] = { perRun, workerOnly }
      rows.push([
        `heartbeat of a worker holding ${n} runs: per run · worker row only`,
        `${Math.round(perRun.bytes).toLocaleString('en-US')} B WAL, ${perRun.ms.toFixed(2)} ms · ${Math.round(workerOnly.bytes)} B, ${workerOnly.ms.toFixed(2)} ms`,
      ])
      await sql`update ops.runs set status = 'succeeded', finished_at = now() where session_id = ${session.id} and status = 'running'`
    }
    await sql`delete from ops.sessions where id = ${session.id}`
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
    await compare()
    await pickupOnly()
    await pickupHops()
    await latencies()
    await drain('c10-20k', 20_000, 1, 10)
    await drain('c100-20k', 20_000, 1, 100)
    await drain('2proc-c100-20k', 20_000, 2, 100)
    if (process.env.BENCH_WORKER_LARGE !== '0') {
      await drain('c10-100k', 100_000, 1, 10)
      await drain('c100-100k', 100_000, 1, 100)
      await drain('2proc-c100-100k', 100_000, 2, 100)
    }
    await recovery()
    await heartbeatCost()
    await cpuSplit()
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
