import { type ChildProcess, spawn } from 'node:child_process'
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
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createTestDatabase, freePort, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { build } from 'tsup'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { pullRequestPayload, SHA_A, sign, webhookRequest } from './helpers'

const here = import.meta.dirname
const pkgDir = resolve(here, '..')
const repo = resolve(here, '../../..')
const core = resolve(repo, 'packages/core')
let db: TestDatabase
let work: string
let deno: ChildProcess | undefined
let url: string
let denoLog = ''

/**
 * Lays out supabase/functions/ops-github as the Supabase CLI deploys it (its index.ts and deno.json
 * of npm: specifiers), with @ops-control-room/github built from source into a node_modules beside it.
 */
async function layOutFunction(dir: string) {
  const fn = join(dir, 'functions/ops-github')
  mkdirSync(fn, { recursive: true })
  cpSync(join(repo, 'supabase/functions/ops-github/index.ts'), join(fn, 'index.ts'))
  const config = JSON.parse(readFileSync(join(repo, 'supabase/functions/ops-github/deno.json'), 'utf8'))
  expect(Object.values(config.imports).every((s) => String(s).startsWith('npm:'))).toBe(true)
  writeFileSync(join(fn, 'deno.json'), JSON.stringify({ ...config, nodeModulesDir: 'manual' }))
  writeFileSync(join(fn, 'package.json'), '{"type":"module"}')
  const modules = join(fn, 'node_modules')
  const pkg = join(modules, '@ops-control-room/github')
  mkdirSync(pkg, { recursive: true })
  // At the version deno.json asks for: the workspace's is 0.0.0 until the first release.
  const wanted = /@\^?(\d+\.\d+\.\d+)\//.exec(String(config.imports['@ops-control-room/github/webhook']))?.[1]
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ ...manifest, version: wanted ?? manifest.version }),
  )
  const external = ['postgres', 'zod', 'jose', '@cfworker/json-schema', '@octokit/webhooks']
  await build({
    entry: { webhook: join(pkgDir, 'src/webhook.ts') },
    format: ['esm'],
    outDir: join(pkg, 'dist'),
    dts: false,
    silent: true,
    config: false,
    target: 'es2022',
    // Core is bundled in: it is what a published build of this package would import.
    noExternal: [/^@ops-control-room\//],
    external,
    esbuildOptions: (o) => {
      o.alias = { '@ops-control-room/core': join(core, 'src/index.ts') }
    },
  })
  const link = (name: string, from: string) => {
    mkdirSync(dirname(join(modules, name)), { recursive: true })
    symlinkSync(realpathSync(join(from, 'node_modules', name)), join(modules, name))
  }
  for (const name of ['zod', 'jose', '@cfworker/json-schema']) link(name, core)
  link('postgres', pkgDir)
  link('@octokit/webhooks', pkgDir)
  return fn
}

function denoExecutable(): string {
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('deno/package.json'))
  const exe = join(dir, 'deno')
  return existsSync(exe) ? exe : (require(join(dir, 'install_api.cjs')).runInstall() as string)
}

beforeAll(async () => {
  db = await createTestDatabase()
  work = await mkdtemp(join(tmpdir(), 'ops-github-edge-'))
  const fn = await layOutFunction(work)
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  deno = spawn(
    denoExecutable(),
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
        GITHUB_WEBHOOK_SECRET: 'test-webhook-secret',
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
    const up = await fetch(url, { method: 'GET' }).then(
      (r) => r.status === 405,
      () => false,
    )
    if (up) break
    if (deno.exitCode !== null || Date.now() > until) throw new Error(`deno did not start:\n${denoLog}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}, 120_000)

afterAll(async () => {
  if (deno && deno.exitCode === null) {
    const exited = new Promise((r) => deno?.once('exit', r))
    deno.kill('SIGTERM')
    await exited
  }
  await rm(work, { recursive: true, force: true })
  await db?.drop()
})

it('the ops-github Edge Function under Deno verifies signatures and enqueues once per delivery', async () => {
  const send = async (signature?: string) => {
    const req = webhookRequest('pull_request', pullRequestPayload(SHA_A, 'opened'), { delivery: 'edge-1' })
    const body = await req.text()
    const headers = new Headers(req.headers)
    headers.set('x-hub-signature-256', signature ?? sign(body))
    return fetch(url, { method: 'POST', headers, body })
  }
  const bad = await send(sign('something else'))
  expect(bad.status).toBe(401)
  const ok = await send()
  expect(ok.status).toBe(200)
  expect((await ok.json()).outcome).toBe('enqueued')
  expect((await (await send()).json()).outcome).toBe('duplicate_delivery')
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    const runs = await sql`select kind from ops.runs`
    expect(runs.map((r) => r.kind)).toEqual(['github_pipeline'])
  } finally {
    await sql.end()
  }
})
