import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import {
  createOpsClient,
  ForbiddenError,
  type OpsClient,
  type SupabaseClientLike,
  supabaseBackend,
  ValidationError,
} from '@ops-control-room/core'
import { executorDatabaseUrl, migrate } from '@ops-control-room/core/postgres'
import { createTestDatabase, freePort, type TestDatabase } from '@ops-control-room/testing'
import { createClient } from '@supabase/supabase-js'
import { jwtVerify } from 'jose'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { JWT_SECRET, tokenFor } from './helpers'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../../..')
const core = resolve(repo, 'packages/core')

let db: TestDatabase
let work: string
let deno: ChildProcess | undefined
let gateway: Server
let gatewayUrl: string
let denoLog = ''
// A role name of this file's own: roles are per cluster, and other test files share it.
const executorRole = {
  name: `ops_exec_edge_${Math.random().toString(36).slice(2, 8)}`,
  password: crypto.randomUUID(),
}

/**
 * Lays out the function as the Supabase CLI would deploy it from this repository: its own index.ts
 * and deno.json, @ops-control-room/core bundled from source into _vendor/ by the repository's own
 * script (`pnpm supabase:bundle`), and the npm packages deno.json names in a node_modules beside it.
 */
async function layOutFunction(dir: string) {
  const fn = join(dir, 'functions/ops-executor')
  mkdirSync(fn, { recursive: true })
  cpSync(join(repo, 'supabase/functions/ops-executor/index.ts'), join(fn, 'index.ts'))
  const config = JSON.parse(readFileSync(join(repo, 'supabase/functions/ops-executor/deno.json'), 'utf8'))
  // Everything is either an npm: package or a file inside the function: nothing the deploy leaves behind.
  expect(
    Object.values(config.imports).every(
      (s) => String(s).startsWith('npm:') || String(s).startsWith('./_vendor/'),
    ),
  ).toBe(true)
  writeFileSync(join(fn, 'deno.json'), JSON.stringify({ ...config, nodeModulesDir: 'manual' }))
  writeFileSync(join(fn, 'package.json'), '{"type":"module"}')
  execFileSync(process.execPath, [join(repo, 'scripts/bundle-edge-function.mjs'), join(fn, '_vendor/core')], {
    cwd: repo,
    stdio: 'pipe',
  })
  const modules = join(fn, 'node_modules')
  const link = (name: string, from: string) => {
    mkdirSync(dirname(join(modules, name)), { recursive: true })
    symlinkSync(realpathSync(join(from, 'node_modules', name)), join(modules, name))
  }
  const coreManifest = JSON.parse(readFileSync(join(core, 'package.json'), 'utf8'))
  for (const name of Object.keys({ ...coreManifest.dependencies, ...coreManifest.peerDependencies }))
    link(name, core)
  link('@supabase/supabase-js', resolve(here, '..'))
  return fn
}

/**
 * The Deno binary itself: npm's `deno` bin is a Node wrapper that spawns it, and killing the wrapper
 * would leave Deno (and its database connections) running.
 */
function denoExecutable(): string {
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('deno/package.json'))
  const exe = join(dir, process.platform === 'win32' ? 'deno.exe' : 'deno')
  return existsSync(exe) ? exe : (require(join(dir, 'install_api.cjs')).runInstall() as string)
}

/** Mirrors Supabase's gateway: /functions/v1/<name>/… → the function, after checking the JWT. */
function startGateway(target: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const m = /^\/functions\/v1\/([^/?]+)(.*)$/.exec(req.url ?? '')
    if (!m) {
      res.writeHead(404).end()
      return
    }
    if (req.method !== 'OPTIONS') {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      try {
        await jwtVerify(token ?? '', new TextEncoder().encode(JWT_SECRET))
      } catch {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ msg: 'Invalid JWT' }))
        req.resume()
        return
      }
    }
    const headers = new Headers()
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host') headers.set(k, v)
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    // The Edge Runtime hands the function its path with the function's name: /<name>/…
    const upstream = await fetch(`${target}/${m[1]}${m[2]}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
      duplex: 'half',
    } as RequestInit)
    res.writeHead(upstream.status, Object.fromEntries(upstream.headers))
    res.end(Buffer.from(await upstream.arrayBuffer()))
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

let tokens: { anon: string; user: string; service: string }
let functionDir: string
const clients: { removeAllChannels(): Promise<unknown> }[] = []
function supabaseAs(token: string) {
  const client = createClient(gatewayUrl, tokens.anon, {
    global: { headers: { Authorization: `Bearer ${token}` } },
    auth: { persistSession: false, autoRefreshToken: false },
    // Node 20 has no global WebSocket; Realtime is not exercised here (no Realtime server runs).
    realtime: { transport: WebSocket as never },
  })
  clients.push(client)
  return client
}
const opsAs = (token: string): OpsClient =>
  createOpsClient({ backend: supabaseBackend(supabaseAs(token) as unknown as SupabaseClientLike) })

beforeAll(async () => {
  db = await createTestDatabase()
  await (async (sql) => {
    await sql`select ops.set_kind_policy('{"kind":"edge","roles":["authenticated"]}')`
    await sql.end()
  })(postgres(db.url, { max: 1, onnotice: () => {} }))
  await migrate({ databaseUrl: db.url, executorRole })
  work = await mkdtemp(join(tmpdir(), 'ops-edge-'))
  const fn = await layOutFunction(work)
  functionDir = fn
  tokens = {
    anon: await tokenFor('anon'),
    user: await tokenFor('authenticated', { sub: '00000000-0000-4000-8000-0000000000aa' }),
    service: await tokenFor('service_role'),
  }
  const port = await freePort()
  const denoBin = denoExecutable()
  gateway = await startGateway(`http://127.0.0.1:${port}`)
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`
  deno = spawn(
    denoBin,
    [
      'run',
      '--allow-net',
      '--allow-env',
      '--allow-read',
      '--allow-sys',
      '--config',
      join(fn, 'deno.json'),
      join(fn, 'index.ts'),
    ],
    {
      cwd: fn,
      env: {
        ...process.env,
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
        DENO_NO_UPDATE_CHECK: '1',
        SUPABASE_DB_URL: db.url,
        OPS_EXECUTOR_DB_URL: executorDatabaseUrl(db.url, executorRole),
        SUPABASE_URL: gatewayUrl,
        SUPABASE_SERVICE_ROLE_KEY: tokens.service,
        OPS_JWT_SECRET: JWT_SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  deno.stdout?.on('data', (d) => {
    denoLog += d
  })
  deno.stderr?.on('data', (d) => {
    denoLog += d
  })
  const until = Date.now() + 90_000
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/ops-executor/health`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (deno.exitCode !== null || Date.now() > until) throw new Error(`deno did not start:\n${denoLog}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}, 120_000)

afterAll(async () => {
  await Promise.all(clients.map((c) => c.removeAllChannels()))
  if (deno && deno.exitCode === null) {
    const exited = new Promise((r) => deno!.once('exit', r))
    deno.kill('SIGTERM')
    await exited
  }
  await new Promise((r) => gateway?.close(r))
  await rm(work, { recursive: true, force: true })
  await db?.drop()
  await (async (sql) => {
    await sql.unsafe(`drop role if exists ${executorRole.name}`).catch(() => {})
    await sql.end()
  })(postgres(db.adminUrl, { max: 1, onnotice: () => {} }))
})

describe('the ops-executor Edge Function under Deno, called with supabase-js', () => {
  it('connects as the executor role given in OPS_EXECUTOR_DB_URL, never as the postgres user', async () => {
    const supabase = supabaseAs(tokens.user)
    const { error } = await supabase.functions.invoke('ops-executor/sessions', { method: 'GET' })
    expect(error).toBeNull()
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    try {
      const users = await sql`
        select distinct usename from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`
      expect(users.map((u) => u.usename)).toEqual([executorRole.name])
    } finally {
      await sql.end()
    }
    expect(denoLog).not.toMatch(/OPS_EXECUTOR_DB_URL is not set/)
  })

  it('without OPS_EXECUTOR_DB_URL falls back to SUPABASE_DB_URL and says so', async () => {
    const child = spawn(
      denoExecutable(),
      [
        'run',
        '--allow-net',
        '--allow-env',
        '--allow-read',
        '--allow-sys',
        '--config',
        join(functionDir, 'deno.json'),
        join(functionDir, 'index.ts'),
      ],
      {
        cwd: functionDir,
        env: {
          ...process.env,
          DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${await freePort()}`,
          DENO_NO_UPDATE_CHECK: '1',
          SUPABASE_DB_URL: db.url,
          SUPABASE_URL: gatewayUrl,
          SUPABASE_SERVICE_ROLE_KEY: tokens.service,
          OPS_JWT_SECRET: JWT_SECRET,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let log = ''
    const exited = new Promise((r) => child.once('exit', r))
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          log += d
          if (/OPS_EXECUTOR_DB_URL is not set/.test(log)) resolve()
        }
        child.stdout?.on('data', onData)
        child.stderr?.on('data', onData)
        child.once('exit', () => reject(new Error(`deno exited:\n${log}`)))
      })
    } finally {
      child.kill('SIGTERM')
      await exited
    }
    expect(log).toMatch(/Create the ops_executor role and set OPS_EXECUTOR_DB_URL/)
  })

  it('runs under the real Deno and answers functions.invoke through the gateway', async () => {
    const supabase = supabaseAs(tokens.anon)
    const { data, error } = await supabase.functions.invoke('ops-executor/health', { method: 'GET' })
    expect(error).toBeNull()
    expect(data).toMatchObject({ ok: true, database: 'up' })
  })

  it('serves the client through supabaseBackend, as the caller’s role', async () => {
    const user = opsAs(tokens.user)
    const service = opsAs(tokens.service)
    const session = await user.sessions.create({ name: 'from the edge' })
    expect(session.createdBy).toBe('00000000-0000-4000-8000-0000000000aa')
    const runs = await user.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'edge', lane: 'D', params: { n: 1 } },
        { kind: 'edge', lane: 'D' },
      ],
    })
    const claimed = await service.worker.claim({ workerId: 'edge-worker', lanes: { D: 5 } })
    expect(claimed.map((r) => r.id).sort()).toEqual(runs.map((r) => r.id).sort())
    const held = claimed.map((r) => ({ id: r.id, lease: r.lease as string }))
    expect(await service.worker.heartbeat({ workerId: 'edge-worker', runs: held })).toEqual({
      cancel: [],
      lost: [],
    })
    await service.worker.complete({
      workerId: 'edge-worker',
      results: held.map((h) => ({ ...h, result: { ok: true } })),
    })
    const done = await opsAs(tokens.anon).runs.list({ sessionId: session.id, status: 'succeeded' })
    expect(done).toHaveLength(2)
    expect(await user.runs.get(runs[0]!.id)).toMatchObject({ status: 'succeeded', result: { ok: true } })
  })

  it('maps refusals to typed errors: RLS/grants (403), validation (400), the gateway’s JWT check (401)', async () => {
    await expect(opsAs(tokens.anon).sessions.create({ name: 'anon may not' })).rejects.toBeInstanceOf(
      ForbiddenError,
    )
    const invalid = await opsAs(tokens.user)
      .runs.enqueue({ sessionId: crypto.randomUUID(), runs: [{ kind: 'Not Valid' }] })
      .catch((e) => e)
    expect(invalid).toBeInstanceOf(ValidationError)
    // The client validates first; send raw to see the function's own answer.
    const raw = await supabaseAs(tokens.user).functions.invoke('ops-executor/runs', {
      method: 'POST',
      body: { sessionId: 'x', runs: [] },
    })
    const response = (raw.error as { context: Response }).context
    expect(response.status).toBe(400)
    expect((await response.json()).error.details.issues.length).toBeGreaterThan(0)
    const forged = await supabaseAs(
      await tokenFor('service_role', { secret: 'x'.repeat(40) }),
    ).functions.invoke('ops-executor/workers', { method: 'GET' })
    expect((forged.error as { context: Response }).context.status).toBe(401)
    const postgresRole = await supabaseAs(await tokenFor('postgres')).functions.invoke(
      'ops-executor/workers',
      {
        method: 'GET',
      },
    )
    expect((postgresRole.error as { context: Response }).context.status).toBe(403)
  })
})
