/**
 * Chaos: 4 `ops-worker` processes drain 5,000 runs while a supervisor SIGKILLs a random one every
 * 1–3 s (and starts a replacement, as Kubernetes would), freezes one with SIGSTOP past the heartbeat
 * timeout and thaws it, and PostgreSQL is restarted with `pg_ctl restart -m immediate`.
 *
 * It prints: runs and their final states, executions, duplicate executions and why (each must be
 * explained by a killed or frozen owner), stale results (a run whose result was produced under
 * another lease than its last: must be 0), time from a kill to the re-claim of the killed worker's
 * runs, deadlocks, and how every worker process ended (running and claiming, or exited non-zero).
 *
 *   pnpm bench chaos              CHAOS_RUNS=5000 CHAOS_WORKERS=4 by default
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate } from '@ops-control-room/core/postgres'
import { restartPostgres, startEmbeddedPostgres, stopRestartedPostgres } from '@ops-control-room/testing'
import postgres from 'postgres'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const RUNS = Number(process.env.CHAOS_RUNS ?? 5000)
const WORKERS = Number(process.env.CHAOS_WORKERS ?? 4)
const TIMEOUT_S = 6

interface Proc {
  child: ChildProcess
  pid: number
  startedAt: number
  killedAt?: number
  frozen?: { from: number; to?: number }
  exit?: { code: number | null; signal: NodeJS.Signals | null }
  lastReady?: number
}

const pg = await startEmbeddedPostgres()
await migrate({ databaseUrl: pg.url })
let sql = postgres(pg.url, { max: 2, onnotice: () => {} })
await sql`create table chaos_executions (id bigserial primary key, run_id uuid not null, lease bigint, attempt int,
  pid int, started_at timestamptz not null default clock_timestamp())`

const procs: Proc[] = []
function startWorker(): Proc {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', resolve(root, 'packages/worker/src/bin/opsWorker.ts')],
    {
      cwd: resolve(root, 'bench'),
      env: {
        ...process.env,
        DATABASE_URL: pg.url,
        CHAOS_DATABASE_URL: pg.url,
        WORKER_ID: 'chaos',
        OPS_HANDLERS: resolve(here, '../fixtures/chaosHandler.ts'),
        OPS_CONCURRENCY: '8',
        OPS_HEARTBEAT_INTERVAL_MS: '1000',
        OPS_HEARTBEAT_TIMEOUT_S: String(TIMEOUT_S),
        OPS_SWEEP_INTERVAL_MS: '1000',
        OPS_POLL_INTERVAL_MS: '1000',
        OPS_SHUTDOWN_TIMEOUT_MS: '5000',
        OPS_ABORT_GRACE_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const p: Proc = { child, pid: child.pid as number, startedAt: Date.now() }
  child.stdout?.on('data', (d: Buffer) => {
    if (d.toString().includes('"msg":"ready"')) p.lastReady = Date.now()
  })
  child.stderr?.on('data', () => {})
  child.on('exit', (code, signal) => {
    p.exit = { code, signal }
  })
  procs.push(p)
  return p
}

const live = () => procs.filter((p) => !p.exit && !p.killedAt)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (let i = 0; i < WORKERS; i++) startWorker()
const session = (await sql`select * from ops.create_session('chaos')`)[0] as { id: string }
for (let i = 0; i < RUNS; i += 1000) {
  const batch = Array.from({ length: Math.min(1000, RUNS - i) }, () => ({
    kind: 'chaos',
    lane: 'ABCD'[Math.floor(Math.random() * 4)],
    max_attempts: 10,
    params: { ms: 20 + Math.floor(Math.random() * 180) },
  }))
  await sql`select count(*) from ops.enqueue_runs(${session.id}, ${sql.json(batch)}::jsonb)`
}
const [{ deadlocks: deadlocksBefore }] = (await sql`
  select deadlocks::int from pg_stat_database where datname = current_database()`) as unknown as [
  { deadlocks: number },
]

const t0 = Date.now()
let stopped = false
let restartedAt: number | undefined
let frozenOnce = false
const open = async () => {
  try {
    const [row] =
      await sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status in ('queued', 'running')`
    return row?.n as number
  } catch {
    return Number.NaN
  }
}
const chaos = (async () => {
  while (!stopped) {
    await sleep(1000 + Math.random() * 2000)
    if (stopped) break
    const elapsed = Date.now() - t0
    if (!restartedAt && elapsed > 6000) {
      restartedAt = Date.now()
      await sql.end({ timeout: 1 })
      await restartPostgres(pg, 'immediate')
      sql = postgres(pg.url, { max: 2, onnotice: () => {} })
      continue
    }
    const candidates = live().filter((p) => !p.frozen || p.frozen.to)
    const victim = candidates[Math.floor(Math.random() * candidates.length)]
    if (!victim) continue
    if (!frozenOnce && elapsed > 3000) {
      frozenOnce = true
      victim.frozen = { from: Date.now() }
      victim.child.kill('SIGSTOP')
      setTimeout(
        () => {
          victim.child.kill('SIGCONT')
          if (victim.frozen) victim.frozen.to = Date.now()
        },
        (TIMEOUT_S + 4) * 1000,
      )
      continue
    }
    if (live().length <= 1) continue
    victim.killedAt = Date.now()
    victim.child.kill('SIGKILL')
    startWorker() // the supervisor's replacement
  }
})()

while ((await open()) !== 0 && Date.now() - t0 < 15 * 60_000) await sleep(500)
const drainMs = Date.now() - t0
stopped = true
await chaos

// Every process still there must be running and claiming: give it one more run, then stop it.
const probe = (await sql`select * from ops.enqueue_runs(${session.id}, ${sql.json(
  Array.from({ length: 20 }, () => ({ kind: 'chaos', params: { ms: 0 } })),
)}::jsonb)`) as unknown as { id: string }[]
while ((await open()) !== 0) await sleep(200)
const claimers = new Set(
  (
    await sql`select distinct e.pid from chaos_executions e where e.run_id = any(${probe.map((r) => r.id)}::uuid[])`
  ).map((r) => Number(r.pid)),
)
const survivors = live()
await Promise.all(
  survivors.map(
    (p) =>
      new Promise<void>((r) => {
        if (p.exit) return r()
        p.child.once('exit', () => r())
        p.child.kill('SIGTERM')
      }),
  ),
)

const runs =
  await sql`select status, count(*)::int as n from ops.runs where session_id = ${session.id} group by status`
const stale = await sql`
  select count(*)::int as n from ops.runs
  where session_id = ${session.id} and status = 'succeeded' and (result ->> 'lease')::bigint is distinct from lease`
const executions = await sql`select run_id, lease, attempt, pid, started_at from chaos_executions order by id`
const byRun = new Map<string, { lease: string; pid: number; at: number }[]>()
for (const e of executions) {
  const list = byRun.get(String(e.run_id)) ?? []
  list.push({ lease: String(e.lease), pid: Number(e.pid), at: new Date(e.started_at as string).getTime() })
  byRun.set(String(e.run_id), list)
}
const byPid = new Map(procs.map((p) => [p.pid, p]))
const why = { killed: 0, frozen: 0, outage: 0, unexplained: 0 }
const reclaim: number[] = []
for (const list of byRun.values()) {
  for (let i = 1; i < list.length; i++) {
    const prev = list[i - 1] as (typeof list)[0]
    const owner = byPid.get(prev.pid)
    const cur = list[i] as (typeof list)[0]
    if (owner?.killedAt && owner.killedAt <= cur.at) {
      why.killed++
      reclaim.push(cur.at - owner.killedAt)
    } else if (owner?.frozen && owner.frozen.from <= cur.at) why.frozen++
    else if (restartedAt && Math.abs(prev.at - restartedAt) < TIMEOUT_S * 2000) why.outage++
    else why.unexplained++
  }
}
const [{ deadlocks: deadlocksAfter }] = (await sql`
  select deadlocks::int from pg_stat_database where datname = current_database()`) as unknown as [
  { deadlocks: number },
]
reclaim.sort((a, b) => a - b)
const pct = (q: number) =>
  reclaim.length ? reclaim[Math.min(reclaim.length - 1, Math.floor(q * reclaim.length))] : null
const endings = procs.map((p) => ({
  pid: p.pid,
  how: p.killedAt
    ? 'SIGKILL (by the bench)'
    : survivors.includes(p)
      ? claimers.has(p.pid)
        ? 'running and claiming; SIGTERM'
        : 'running, did not claim'
      : 'exited by itself',
  exit: p.exit?.code ?? p.exit?.signal ?? null,
  frozen: Boolean(p.frozen),
}))
const result = {
  runs: Object.fromEntries(runs.map((r) => [r.status, r.n])),
  drainSeconds: Math.round(drainMs / 100) / 10,
  executions: executions.length,
  duplicates: why.killed + why.frozen + why.outage + why.unexplained,
  duplicatesWhy: why,
  staleResults: (stale[0] as { n: number }).n,
  killToReclaimMs: {
    p50: pct(0.5),
    p95: pct(0.95),
    max: reclaim.at(-1) ?? null,
    heartbeatTimeoutS: TIMEOUT_S,
  },
  deadlocks: deadlocksAfter - deadlocksBefore,
  processes: {
    started: procs.length,
    killed: procs.filter((p) => p.killedAt).length,
    runningAndClaimingAtEnd: endings.filter((e) => e.how.startsWith('running and claiming')).length,
    exitedByThemselves: endings.filter((e) => e.how === 'exited by itself').map((e) => e.exit),
    survivorsNotClaiming: endings.filter((e) => e.how === 'running, did not claim').length,
    cleanExitsOnSigterm: survivors.filter((p) => p.exit?.code === 0).length,
  },
}
console.table([
  { measure: 'runs', value: JSON.stringify(result.runs) },
  { measure: 'drain (s)', value: result.drainSeconds },
  { measure: 'executions', value: result.executions },
  { measure: 'duplicate executions', value: `${result.duplicates} ${JSON.stringify(why)}` },
  { measure: 'stale results', value: result.staleResults },
  {
    measure: 'kill → re-claim ms (p50/p95/max)',
    value: `${pct(0.5)} / ${pct(0.95)} / ${reclaim.at(-1) ?? '-'}`,
  },
  { measure: 'deadlocks', value: result.deadlocks },
  { measure: 'processes', value: JSON.stringify(result.processes) },
])
console.log(`BENCH_JSON ${JSON.stringify({ suite: 'chaos', ...result })}`)
await sql.end({ timeout: 1 })
await stopRestartedPostgres(pg)
const ok =
  result.staleResults === 0 &&
  why.unexplained === 0 &&
  result.deadlocks === 0 &&
  (result.runs.queued ?? 0) + (result.runs.running ?? 0) === 0 &&
  result.processes.exitedByThemselves.every((c) => c !== 0) &&
  result.processes.survivorsNotClaiming === 0
process.exit(ok ? 0 : 1)
