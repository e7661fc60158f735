/**
 * Executor API benchmark, over HTTP on loopback against @ops-control-room/server on an embedded
 * PostgreSQL (default durability: fsync and synchronous_commit on):
 *   - claim and heartbeat latency (p50/p95/p99) with 100 and with 1,000 runs in flight held by 10
 *     workers: at a steady 100 requests/s (each worker paced, as real workers' timers are), and at
 *     saturation (10 closed loops; its req/s is the API's throughput here);
 *   - drain throughput of one worker (@ops-control-room/worker over httpBackend, no database
 *     connection) through 2,000 no-op runs.
 * Every request is a real one: JWT check, zod validation, one transaction as service_role.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')

// Workspace packages resolve to their source (as in tests), not to a possibly stale build: re-run
// this file with tsx reading the workspace's path mappings.
if (!process.env.TSX_TSCONFIG_PATH) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, TSX_TSCONFIG_PATH: resolve(repo, 'tsconfig.base.json') },
  })
  process.exit(result.status ?? 1)
}

const WORKERS = Number(process.env.BENCH_API_WORKERS ?? 10)
const REQUESTS = Number(process.env.BENCH_API_REQUESTS ?? 500)

function percentiles(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN
  const round = (x: number) => Math.round(x * 100) / 100
  return { p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), n: s.length }
}

async function main() {
  const { createOpsClient, httpBackend, LANES } = await import('@ops-control-room/core')
  const { migrate } = await import('@ops-control-room/core/postgres')
  const { startEmbeddedPostgres } = await import('@ops-control-room/testing')
  const { freePort } = await import('@ops-control-room/testing')
  const { createWorker, defineHandler } = await import('@ops-control-room/worker')
  const { SignJWT } = await import('jose')
  const { z } = await import('zod')
  const postgres = (await import('postgres')).default

  const secret = 'bench-secret-bench-secret-bench-secret!!'
  const token = await new SignJWT({ role: 'service_role' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret))
  const pg = await startEmbeddedPostgres()
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin.unsafe('create database bench_api')
  await admin.end()
  const databaseUrl = pg.urlFor('bench_api')
  await migrate({ databaseUrl, migrationsDir: resolve(repo, 'supabase/migrations') })
  const artifactsDir = await mkdtemp(join(tmpdir(), 'ops-bench-api-'))
  // The server runs in its own process, as in production: the load generator must not share its
  // event loop (on one thread, client and server would queue behind each other).
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve(repo, 'packages/server/src/cli.ts'),
      'serve',
      '--port',
      String(port),
      '--artifacts-dir',
      artifactsDir,
    ],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl, OPS_JWT_SECRET: secret },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  await new Promise<void>((ok, fail) => {
    child.stdout?.on('data', (d) => String(d).includes('executor API on') && ok())
    child.once('exit', (code) => fail(new Error(`the server exited (${code})`)))
  })
  const server = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        child.once('exit', () => done())
        child.kill('SIGTERM')
      }),
  }
  const client = createOpsClient({ backend: httpBackend({ url: server.url, token }) })
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })

  const rows: Record<string, unknown>[] = []
  try {
    for (const inFlight of [100, 1000]) {
      await sql`truncate ops.runs, ops.sessions, ops.workers cascade`
      const session = await client.sessions.create({ name: `in flight ${inFlight}` })
      // The runs in flight, spread over the workers, plus a backlog for the claim measurements.
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: inFlight }, () => ({ kind: 'held', lane: 'A' as const })),
      })
      const held: { id: string; lease: string }[][] = []
      for (let w = 0; w < WORKERS; w++) {
        const runs = await client.worker.claim({ workerId: `w${w}`, lanes: { A: inFlight / WORKERS } })
        held.push(runs.map((r) => ({ id: r.id, lease: r.lease as string })))
      }
      await client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: 2 * REQUESTS + 100 }, () => ({ kind: 'backlog', lane: 'B' as const })),
      })

      /**
       * Latency at a steady load: each worker sends one request every `paceMs` (open loop, like real
       * workers on a timer), so figures are not inflated by queueing behind our own load. `paceMs` 0
       * is a closed loop at saturation: its req/s is the API's throughput on this machine.
       */
      const measure = async (paceMs: number, request: (w: number) => Promise<unknown>) => {
        const samples: number[] = []
        let left = REQUESTS
        const started = performance.now()
        await Promise.all(
          Array.from({ length: WORKERS }, async (_, w) => {
            await new Promise((r) => setTimeout(r, (paceMs / WORKERS) * w))
            while (left-- > 0) {
              const t0 = performance.now()
              await request(w)
              const ms = performance.now() - t0
              samples.push(ms)
              if (paceMs > ms) await new Promise((r) => setTimeout(r, paceMs - ms))
            }
          }),
        )
        return {
          ...percentiles(samples),
          reqPerS: Math.round(samples.length / ((performance.now() - started) / 1000)),
        }
      }
      // Warm up the JIT, the pool's connections and the plans: the first scenario would pay for them.
      await Promise.all(held.map((ids, w) => client.worker.heartbeat({ workerId: `w${w}`, runs: ids })))
      const beat = (w: number) => client.worker.heartbeat({ workerId: `w${w}`, runs: held[w] ?? [] })
      const take = (w: number) => client.worker.claim({ workerId: `w${w}`, lanes: { B: 1 } })
      const perRunHeartbeat = inFlight / WORKERS
      if (inFlight === 100) {
        await measure(0, beat)
        await measure(0, (w) => client.worker.claim({ workerId: `w${w}`, lanes: { D: 1 } }))
      }
      rows.push({
        metric: 'heartbeat ms @100 req/s',
        inFlight,
        runsPerRequest: perRunHeartbeat,
        ...(await measure(100, beat)),
      })
      rows.push({ metric: 'claim ms @100 req/s', inFlight, runsPerRequest: 1, ...(await measure(100, take)) })
      rows.push({
        metric: 'heartbeat ms saturated',
        inFlight,
        runsPerRequest: perRunHeartbeat,
        ...(await measure(0, beat)),
      })
      rows.push({ metric: 'claim ms saturated', inFlight, runsPerRequest: 1, ...(await measure(0, take)) })
    }

    // Drain: one worker over HTTP, no database connection of its own.
    await sql`truncate ops.runs, ops.sessions, ops.workers cascade`
    const DRAIN = 2000
    const session = await client.sessions.create({ name: 'drain' })
    await client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: DRAIN }, (_, i) => ({ kind: 'noop', lane: LANES[i % 4] })),
    })
    const worker = createWorker({
      client: createOpsClient({ backend: httpBackend({ url: server.url, token }) }),
      workerId: 'drainer',
      concurrency: 10,
      sweepIntervalMs: false,
      handlers: [defineHandler({ kind: 'noop', input: z.object({}).passthrough(), run: () => null })],
    })
    const t0 = performance.now()
    await worker.start()
    for (;;) {
      const [row] = await sql`select count(*)::int as n from ops.runs where status = 'succeeded'`
      if ((row?.n ?? 0) >= DRAIN) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const seconds = (performance.now() - t0) / 1000
    await worker.stop()
    rows.push({
      metric: 'drain runs/s (1 worker, 4 lanes × 10)',
      inFlight: DRAIN,
      n: DRAIN,
      p50: Math.round(DRAIN / seconds),
    })
  } finally {
    await client.close()
    await server.close()
    await sql.end()
    await rm(artifactsDir, { recursive: true, force: true })
    await pg.stop()
  }
  // Latency on a shared machine says as much about its load as about the API: print both.
  const machine = { cpus: cpus().length, loadavg1m: Math.round(loadavg()[0]! * 100) / 100 }
  console.table(rows)
  console.log(`machine: ${machine.cpus} CPUs, load average ${machine.loadavg1m} at the end`)
  console.log(`BENCH_JSON ${JSON.stringify({ suite: 'api', machine, rows })}`)
}

await main()
