// The plan's M2 acceptance, as a test: three ops-worker processes (one over HTTP through a
// Supabase-style gateway path against `serve`), 300 runs across the four lanes including 10 MB
// artifacts, one direct worker SIGKILLed mid-drain and restarted by the test acting as supervisor;
// every run succeeds, /health passes for every live worker, and /metrics reports the drain.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { freePort } from '@ops-control-room/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

const here = dirname(fileURLToPath(import.meta.url))
const workerDir = resolve(here, '../../worker')
const HANDLERS = resolve(here, 'fixtures/m2Handlers.ts')
const MB10 = 10 * 1024 * 1024

interface WorkerProc {
  child: ChildProcess
  workerId: Promise<string>
  healthPort: number
  exited: Promise<number | null>
  log: () => string
}

function startWorker(env: Record<string, string>): Promise<WorkerProc> {
  return freePort().then((healthPort) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(workerDir, 'src/bin/opsWorker.ts')], {
      cwd: workerDir,
      env: {
        PATH: process.env.PATH ?? '',
        OPS_HANDLERS: HANDLERS,
        OPS_HEALTH_PORT: String(healthPort),
        OPS_CONCURRENCY: '4',
        OPS_POLL_INTERVAL_MS: '250',
        OPS_HEARTBEAT_INTERVAL_MS: '500',
        OPS_HEARTBEAT_TIMEOUT_S: '3',
        OPS_SWEEP_INTERVAL_MS: '1000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    child.stderr?.on('data', (d) => {
      log += String(d)
    })
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    const workerId = new Promise<string>((resolveId, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        log += `${line}\n`
        try {
          const parsed = JSON.parse(line) as { msg?: string; workerId?: string }
          if (parsed.msg === 'ready') resolveId(String(parsed.workerId))
        } catch {}
      })
      void exited.then((code) => reject(new Error(`ops-worker exited (${code}) before ready: ${log}`)))
    })
    return { child, workerId, healthPort, exited, log: () => log }
  })
}

/** Supabase's gateway path: /functions/v1/ops-executor/… → the server, if the apikey header is there. */
function startGateway(target: string, key: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const m = /^\/functions\/v1\/ops-executor(\/.*)?$/.exec(req.url ?? '')
    if (!m || req.headers.apikey !== key) {
      res.writeHead(m ? 401 : 404).end()
      req.resume()
      return
    }
    const headers = new Headers()
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host') headers.set(k, v)
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    try {
      const upstream = await fetch(`${target}${m[1] ?? '/'}`, {
        method: req.method,
        headers,
        body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
        duplex: 'half',
      } as RequestInit)
      // fetch has decoded a compressed body: its encoding and length no longer describe what is sent.
      const out = Object.fromEntries(upstream.headers)
      delete out['content-encoding']
      delete out['content-length']
      res.writeHead(upstream.status, out)
      // Streams (the live change stream included) end with an error when the server closes: not ours.
      if (upstream.body) pipeline(Readable.fromWeb(upstream.body as never), res, () => {})
      else res.end()
    } catch {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    }
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

function expectedSha(size: number, seed: number): string {
  const hash = createHash('sha256')
  let sent = 0
  while (sent < size) {
    const n = Math.min(256 * 1024, size - sent)
    const chunk = new Uint8Array(n)
    for (let i = 0; i < n; i++) chunk[i] = ((sent + i) * seed) & 0xff
    hash.update(chunk)
    sent += n
  }
  return hash.digest('hex')
}

let t: TestServer
let gateway: Server
const workers: WorkerProc[] = []
beforeAll(async () => {
  t = await startTestServer({ sweepIntervalMs: 0 })
  gateway = await startGateway(t.server.url, t.tokens.service_role)
})
afterAll(async () => {
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
  await Promise.all(workers.map((w) => w.exited))
  gateway?.closeAllConnections()
  await new Promise((r) => gateway?.close(r))
  await t?.teardown()
})

describe('M2 acceptance', () => {
  it('3 workers (one over HTTP) drain 300 runs with 10 MB artifacts through a kill and restart, all succeed', async () => {
    const direct = { DATABASE_URL: t.db.url, OPS_DB_POOL: '6', OPS_ARTIFACTS_DIR: t.artifactsDir }
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`
    const [a, b, http] = await Promise.all([
      startWorker({ ...direct, WORKER_ID: 'm2-a' }),
      startWorker({ ...direct, WORKER_ID: 'm2-b' }),
      startWorker({ SUPABASE_URL: gatewayUrl, SUPABASE_KEY: t.tokens.service_role, WORKER_ID: 'm2-http' }),
    ])
    workers.push(a as WorkerProc, b as WorkerProc, http as WorkerProc)
    const ids = await Promise.all(workers.map((w) => w.workerId))
    expect(new Set(ids).size).toBe(3)
    expect((http as WorkerProc).log()).toContain('"mode":"http"')

    const service = t.client('service_role')
    const session = await service.sessions.create({ name: 'M2 acceptance' })
    const lanes = ['A', 'B', 'C', 'D'] as const
    const runs = Array.from({ length: 300 }, (_, n) => ({
      kind: 'm2',
      lane: lanes[n % 4],
      maxAttempts: 3,
      // Every 50th run writes 10 MB; the rest 2 KB; each works 50–200 ms.
      params: { n, ms: 50 + (n % 4) * 50, artifactBytes: n % 50 === 0 ? MB10 : 2048 },
    }))
    await service.runs.enqueue({ sessionId: session.id, runs: runs.slice(0, 150) })
    await service.runs.enqueue({ sessionId: session.id, runs: runs.slice(150) })

    // Once the drain is under way, the supervisor loses worker a (SIGKILL) and restarts it.
    const count = async (status: string) =>
      Number(
        (
          await t.sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status = ${status}`
        )[0]?.n,
      )
    const until = async (what: string, check: () => Promise<boolean>, ms: number) => {
      const end = Date.now() + ms
      while (!(await check())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    await until('60 runs to succeed', async () => (await count('succeeded')) >= 60, 120_000)
    const victimId = ids[0] as string
    ;(a as WorkerProc).child.kill('SIGKILL')
    await (a as WorkerProc).exited
    const restarted = await startWorker({ ...direct, WORKER_ID: 'm2-a' })
    workers.push(restarted)
    const restartedId = await restarted.workerId
    expect(restartedId).not.toBe(victimId)

    await until(
      'all 300 runs to finish',
      async () => (await count('succeeded')) + (await count('failed')) === 300,
      240_000,
    )
    expect({ succeeded: await count('succeeded'), failed: await count('failed') }).toEqual({
      succeeded: 300,
      failed: 0,
    })

    // The runs the killed worker held were recovered by the others' sweep and succeeded elsewhere.
    const [recovered] = await t.sql`
      select count(*)::int as n from ops.run_events e join ops.runs r on r.id = e.run_id
      where r.session_id = ${session.id} and e.type = 'run:recovered' and e.data ->> 'worker_id' = ${victimId}`
    expect(recovered?.n).toBeGreaterThan(0)

    // Every worker took part (the restarted one included), and the HTTP one ran runs too.
    const byWorker =
      await t.sql`select worker_id, count(*)::int as n from ops.runs where session_id = ${session.id} group by worker_id`
    const ran = new Map(byWorker.map((r) => [String(r.worker_id), Number(r.n)]))
    expect(ran.get(ids[2] as string) ?? 0).toBeGreaterThan(0)
    expect(ran.get(ids[1] as string) ?? 0).toBeGreaterThan(0)

    // The 10 MB artifacts are whole, whichever worker (and route) stored them.
    // A run recovered from the killed worker may also keep the artifact its first attempt stored
    // (execution is at least once): then it ran more than once.
    const big = await t.sql`
      select (r.params ->> 'n')::int as n, r.attempt, a.size, a.sha256 from ops.artifacts a join ops.runs r on r.id = a.run_id
      where r.session_id = ${session.id} and a.size = ${MB10} order by 1`
    expect([...new Set(big.map((r) => Number(r.n)))]).toEqual([0, 50, 100, 150, 200, 250])
    for (const n of new Set(big.map((r) => Number(r.n)))) {
      const copies = big.filter((r) => Number(r.n) === n)
      if (copies.length > 1) expect(Number(copies[0]?.attempt)).toBeGreaterThan(1)
    }
    for (const r of big) expect(r.sha256).toBe(expectedSha(MB10, (Number(r.n) % 250) + 3))

    // /health passes for every live worker.
    for (const w of [b, http, restarted] as WorkerProc[]) {
      const health = await fetch(`http://127.0.0.1:${w.healthPort}/health`)
      expect(health.status, w.log()).toBe(200)
    }
    // The server's /metrics reports the drain: 300 succeeded in the window, nothing queued.
    const text = await (await fetch(`${t.server.url}/metrics`)).text()
    const succeeded = text
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('ops_runs_finished_window{') &&
          l.includes('status="succeeded"') &&
          l.includes('kind="m2"'),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
    expect(succeeded).toBe(300)
    expect(text).toMatch(/^ops_runs_error_rate 0$/m)
    expect(text).toMatch(/^ops_queue_queued_total 0$/m)

    for (const w of [b, http, restarted] as WorkerProc[]) w.child.kill('SIGTERM')
    for (const w of [b, http, restarted] as WorkerProc[]) expect(await w.exited).toBe(0)
  })

  it('a worker whose key is refused exits 4 with one line instead of idling', async () => {
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`
    const refused = await startWorker({ SUPABASE_URL: gatewayUrl, SUPABASE_KEY: 'not-the-service-role-key' })
    workers.push(refused)
    await expect(refused.workerId).rejects.toThrow(/exited \(4\)/)
    expect(await refused.exited).toBe(4)
    const stderr = refused
      .log()
      .split('\n')
      .filter((l) => l.startsWith('ops-worker:'))
    expect(stderr).toHaveLength(1)
    expect(stderr[0]).toMatch(/^ops-worker: the credentials were refused/)
  })
})
