import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { measureBundle, measureClientEntry, measureRunboard } from '../src/bundleSize'

/**
 * The published packages as a user receives them: built, packed, and read by publint (--strict) and
 * @arethetypeswrong/cli, the two tools npm consumers' type and module problems are judged by.
 */
const run = promisify(execFile)
const root = fileURLToPath(new URL('../../..', import.meta.url))
const PUBLISHED = ['core', 'worker', 'server', 'react', 'spec-kit-handler', 'github']
const bin = (name: string) => join(root, 'node_modules/.bin', name)

beforeAll(async () => {
  // One build of every published package (core first: the others' declarations read its own).
  for (const p of PUBLISHED) {
    await run('pnpm', ['run', 'build'], { cwd: join(root, 'packages', p), maxBuffer: 64 * 1024 * 1024 })
  }
}, 600_000)

describe.each(PUBLISHED)('@ops-control-room/%s as published', (name) => {
  const dir = join(root, 'packages', name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))

  it('passes publint --strict', async () => {
    const { stdout } = await run(bin('publint'), ['--strict'], { cwd: dir })
    expect(stdout).toContain('All good!')
  })

  it('passes @arethetypeswrong/cli for import and require (node16, bundler)', async () => {
    // node10 resolution cannot see subpath exports at all; TypeScript itself deprecates it.
    const result = await run(bin('attw'), ['--pack', '.', '--profile', 'node16', '--format', 'ascii'], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      (r) => ({ ok: true, out: r.stdout }),
      (err: { stdout?: string }) => ({ ok: false, out: err.stdout ?? String(err) }),
    )
    expect(result.ok, result.out).toBe(true)
  })

  it('declares what a user installs it by: engines, repository directory, public access, LICENSE', () => {
    expect(pkg).toMatchObject({
      license: 'MIT',
      engines: { node: '>=20.19' },
      repository: { directory: `packages/${name}` },
      publishConfig: { access: 'public' },
    })
    expect(pkg.files).toContain('LICENSE')
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toContain('MIT License')
    expect(typeof pkg.sideEffects === 'boolean' || Array.isArray(pkg.sideEffects)).toBe(true)
  })

  it('is at 0.0.0 until the first release, so that release is 0.1.0', () => {
    // The changesets are minor bumps; a package released once has a CHANGELOG.md.
    if (existsSync(join(dir, 'CHANGELOG.md'))) return
    expect(pkg.version).toBe('0.0.0')
  })
})

describe('CommonJS entry points', () => {
  it('share one copy of each error class: an error from core/postgres is an OpsError of core', async () => {
    const script = `
      const { OpsError, NotFoundError } = require('@ops-control-room/core')
      const { toOpsError } = require('@ops-control-room/core/postgres')
      const err = toOpsError(Object.assign(new Error('no such session'), { code: 'OPNTF' }))
      process.stdout.write(JSON.stringify([err instanceof OpsError, err instanceof NotFoundError, err.code]))
    `
    // Resolved from a published package's own directory, as a dependent's require() would.
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: join(root, 'packages', 'worker') })
    expect(JSON.parse(stdout)).toEqual([true, true, 'not_found'])
  })
})

describe('browser bundles', () => {
  // Budgets on sizes (deterministic for given sources and lockfile), with room for features; what
  // must never come back is zod (and RE2) in the client entry.
  it('the client entry holds no zod: under 40 KiB minified', async () => {
    const client = await measureClientEntry()
    console.log(`client entry: ${client.min} B min, ${client.gzip} B gzip`, client.byPackage)
    expect(Object.keys(client.byPackage)).not.toContain('zod')
    expect(Object.keys(client.byPackage)).not.toContain('re2js')
    expect(client.min).toBeLessThan(40 * 1024)
    // The same client through the main entry carries the contract: what the detector looks for.
    const main = await measureBundle(
      "import { createOpsClient, httpBackend } from '@ops-control-room/core'\nexport const c = createOpsClient({ backend: httpBackend({ url: '/api', token: 't' }) })",
      join(root, 'packages/package-tests'),
    )
    console.log(`main entry: ${main.min} B min, ${main.gzip} B gzip`)
    expect(Object.keys(main.byPackage)).toContain('zod')
  })

  it('the Runboard example holds no zod: under 640 KiB minified; RE2 loads with the first form submit', async () => {
    const board = await measureRunboard()
    console.log(
      `Runboard: ${board.min} B min, ${board.gzip} B gzip; first load ${board.first.min} B min, ${board.first.gzip} B gzip`,
    )
    expect(board.hasZod).toBe(false)
    expect(board.min).toBeLessThan(640 * 1024)
    expect(board.hasRe2).toBe(true) // the marker is found where RE2 is: the lazy chunk
    expect(board.first.hasRe2).toBe(false)
    expect(board.first.min).toBeLessThan(480 * 1024)
  }, 180_000)
})

describe('pnpm start', () => {
  // Ctrl-C in a terminal sends SIGINT to the foreground process group: pnpm, the shell it runs the
  // script with, the launcher and the control room. pnpm reports a script whose shell died of it as
  // failed (ELIFECYCLE); the start script `exec`s the launcher, which ends with 0 once the control
  // room has stopped. Here the group gets SIGINT as a terminal would send it.
  it('stops on Ctrl-C with exit code 0 and no ELIFECYCLE', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' }
    delete env.NODE_ENV // vitest's `test` would make a development build of the Runboard
    const child = spawn('pnpm', ['start', '--ephemeral', '--port', '0', '--no-worker'], {
      cwd: root,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      // 'close', not 'exit': the last output ("stopping…") may still be in the pipe when the process exits.
      child.on('close', (code, signal) => resolve({ code, signal })),
    )
    const ready = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        output += chunk
        if (output.includes('Press Ctrl-C to stop')) resolve()
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
    })
    try {
      await Promise.race([
        ready,
        exited.then(() => Promise.reject(new Error(`pnpm start exited:\n${output}`))),
      ])
      process.kill(-(child.pid as number), 'SIGINT')
      const result = await exited
      expect(result, output).toEqual({ code: 0, signal: null })
      expect(output).toContain('stopping')
      expect(output).not.toContain('ELIFECYCLE')
    } finally {
      if (child.exitCode === null && child.signalCode === null)
        process.kill(-(child.pid as number), 'SIGKILL')
    }
  }, 300_000)
})
