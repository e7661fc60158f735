import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { packageDir, setupDatabase, startWorkerProcess, type WorkerProcess, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
const processes: WorkerProcess[] = []
let emptyDbUrl: string
beforeAll(async () => {
  ctx = await setupDatabase()
  const url = new URL(ctx.db.url)
  url.pathname = `/${ctx.db.name}_empty`
  emptyDbUrl = url.toString()
  await ctx.sql.unsafe(`create database "${ctx.db.name}_empty"`)
  await ctx.sql`create table exactly_once (run_id uuid primary key, worker_id text not null)`
})
afterAll(async () => {
  for (const p of processes)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await Promise.all(processes.map((p) => p.exited))
  await ctx.sql.unsafe(`drop database if exists "${ctx.db.name}_empty" with (force)`)
  await ctx.teardown()
})

/** Runs ops-worker to its exit, with only the given environment (plus PATH). */
function runToExit(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(packageDir, 'src/bin/opsWorker.ts'), ...args],
      {
        cwd: packageDir,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    child.on('exit', (code) => done({ code, stdout, stderr }))
  })
}

describe('ops-worker, the command', () => {
  it('prints its variables for --help and exits 0', async () => {
    const r = await runToExit(['--help'], {})
    expect(r.code).toBe(0)
    for (const name of [
      'SUPABASE_URL',
      'SUPABASE_KEY',
      'DATABASE_URL',
      'WORKER_ID',
      'OPS_DB_PREPARE',
      'OPS_HEALTH_PORT',
    ])
      expect(r.stdout).toContain(name)
    expect(r.stderr).toBe('')
  })

  it('refuses an unknown flag with one line and exit code 2', async () => {
    const r = await runToExit(['--lanes', 'A'], { DATABASE_URL: ctx.db.url })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^ops-worker: Unknown option '--lanes'/)
  })

  it('registers no handler unless OPS_HANDLERS names it: one line, exit 2', async () => {
    const r = await runToExit([], { DATABASE_URL: ctx.db.url })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual([
      'ops-worker: set OPS_HANDLERS to the handlers to run: `shell`, module paths or packages (none is registered by default)',
    ])
  })

  it('says in one line that the migrations are missing, and exits 3', async () => {
    const r = await runToExit([], { DATABASE_URL: emptyDbUrl, OPS_HANDLERS: 'shell' })
    expect(r.code).toBe(3)
    expect(r.stderr.trim().split('\n')).toEqual([
      'ops-worker: the database has no `ops` schema: run the migrations first (`supabase db push`, or `ops-control-room serve --migrate`)',
    ])
  })

  it('exits non-zero with one line when the database refuses the credentials or is not there', async () => {
    const url = new URL(ctx.db.url)
    url.username = 'nobody_here'
    const refused = await runToExit([], { DATABASE_URL: url.toString(), OPS_HANDLERS: 'shell' })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr).toMatch(/nobody_here/)

    const closed = new URL(ctx.db.url)
    closed.port = '1'
    const unreachable = await runToExit([], { DATABASE_URL: closed.toString(), OPS_HANDLERS: 'shell' })
    expect(unreachable.code).toBe(5)
    expect(unreachable.stderr).toMatch(/^ops-worker: cannot reach the database or API/)
  })

  it('runs without prepared statements, gives each process its own id, and answers /livez and /health', async () => {
    const env = {
      DATABASE_URL: ctx.db.url,
      OPS_DB_PREPARE: 'false',
      WORKER_ID: 'fleet',
      OPS_HANDLERS: 'test/fixtures/handlers.ts',
      OPS_HEALTH_PORT: '0',
      OPS_POLL_INTERVAL_MS: '200',
    }
    const [a, b] = await Promise.all([startWorkerProcess(env), startWorkerProcess(env)])
    processes.push(a as WorkerProcess, b as WorkerProcess)
    expect(a?.workerId).toMatch(/^fleet-[0-9a-f]{8}$/)
    expect(b?.workerId).toMatch(/^fleet-[0-9a-f]{8}$/)
    expect(a?.workerId).not.toBe(b?.workerId)

    const session = await ctx.client.sessions.create({ name: 'unprepared' })
    await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 20 }, () => ({ kind: 'record', lane: 'A' as const })),
    })
    await waitFor('20 runs to succeed', async () => {
      const [row] =
        await ctx.sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status = 'succeeded'`
      return row?.n === 20
    })
    const ready = a?.lines.find((l) => l.msg === 'ready') as { healthPort: number }
    const live = await fetch(`http://127.0.0.1:${ready.healthPort}/livez`)
    expect(live.status).toBe(200)
    const health = await fetch(`http://127.0.0.1:${ready.healthPort}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ ok: true, workerId: a?.workerId })

    for (const p of [a, b]) p?.child.kill('SIGTERM')
    expect((await a?.exited)?.code).toBe(0)
    expect((await b?.exited)?.code).toBe(0)
  })
})

const PGBOUNCER = '/usr/sbin/pgbouncer'

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
  })
}

/** A real PgBouncer in transaction mode in front of the test cluster. */
async function startPgbouncer(upstream: URL): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ops-pgbouncer-'))
  const port = await freePort()
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${upstream.hostname} port=${upstream.port} user=${upstream.username || 'postgres'}${upstream.password ? ` password=${decodeURIComponent(upstream.password)}` : ''}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = ${join(dir, 'log')}
`,
  )
  const args = [join(dir, 'pgbouncer.ini')]
  chmodSync(dir, 0o777)
  // PgBouncer refuses to run as root.
  const child: ChildProcess =
    process.getuid?.() === 0
      ? spawn('runuser', ['-u', 'nobody', '--', PGBOUNCER, ...args], { stdio: 'ignore' })
      : spawn(PGBOUNCER, args, { stdio: 'ignore' })
  const exited = new Promise<void>((done) => child.on('exit', () => done()))
  const stop = async () => {
    child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  await waitFor('pgbouncer to listen', async () => {
    const postgres = (await import('postgres')).default
    const probe = postgres({
      host: '127.0.0.1',
      port,
      database: upstream.pathname.slice(1),
      username: upstream.username || 'postgres',
      prepare: false,
      max: 1,
      connect_timeout: 1,
      onnotice: () => {},
    })
    try {
      await probe`select 1`
      return true
    } catch {
      return false
    } finally {
      await probe.end({ timeout: 1 })
    }
  }).catch(async (err) => {
    await stop()
    throw err
  })
  return { port, stop }
}

describe.skipIf(!existsSync(PGBOUNCER))('ops-worker behind a transaction pooler (PgBouncer)', () => {
  it('drains runs with artifacts through pool_mode=transaction, polling instead of LISTEN', async () => {
    const upstream = new URL(ctx.db.url)
    const bouncer = await startPgbouncer(upstream)
    try {
      const pooled = new URL(ctx.db.url)
      pooled.hostname = '127.0.0.1'
      pooled.port = String(bouncer.port)
      const env = {
        DATABASE_URL: pooled.toString(),
        OPS_DB_PREPARE: 'false',
        OPS_DB_POOL: '6',
        WORKER_ID: 'pooled',
        OPS_HANDLERS: 'test/fixtures/echoHandler.ts',
        OPS_POLL_INTERVAL_MS: '100',
        OPS_SWEEP_INTERVAL_MS: '500',
      }
      const workers = await Promise.all([startWorkerProcess(env), startWorkerProcess(env)])
      processes.push(...workers)
      const session = await ctx.client.sessions.create({ name: 'pooled' })
      await ctx.client.runs.enqueue({
        sessionId: session.id,
        runs: Array.from({ length: 60 }, (_, n) => ({
          kind: 'echo',
          lane: (['A', 'B', 'C', 'D'] as const)[n % 4],
          params: { n },
        })),
      })
      await waitFor('60 runs to settle', async () => {
        const [row] =
          await ctx.sql`select count(*)::int as n from ops.runs where session_id = ${session.id} and status <> 'queued' and status <> 'running'`
        return row?.n === 60
      })
      const [counts] = await ctx.sql`
        select count(*) filter (where status = 'succeeded')::int as ok,
               (select count(*)::int from ops.artifacts a join ops.runs r on r.id = a.run_id where r.session_id = ${session.id}) as artifacts
        from ops.runs where session_id = ${session.id}`
      expect(counts).toEqual({ ok: 60, artifacts: 60 })
      const errors = workers.flatMap((w) => w.lines.filter((l) => l.msg === 'error'))
      // The only error a pooled worker reports is that it polls (no LISTEN through the pooler).
      for (const e of errors)
        expect(String(e.error)).toMatch(/LISTEN is not available through a transaction pooler/)
      for (const w of workers) w.child.kill('SIGTERM')
      for (const w of workers) expect((await w.exited).code).toBe(0)
    } finally {
      await bouncer.stop()
    }
  })
})
