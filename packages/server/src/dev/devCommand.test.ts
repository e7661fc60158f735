import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const cli = resolve(here, '../cli.ts')
const repo = resolve(here, '../../../..')

/** Runs `ops-control-room dev` as a real process (as a terminal would), collecting its output. */
function startDev(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'dev', '--port', '0', ...args], {
    cwd: resolve(here, '../..'), // packages/server, where tsx is installed
    env: { ...process.env, TSX_TSCONFIG_PATH: resolve(repo, 'tsconfig.base.json'), DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (d) => {
    output += String(d)
  })
  child.stderr?.on('data', (d) => {
    output += String(d)
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  const url = (async () => {
    const end = Date.now() + 90_000
    while (Date.now() < end) {
      const m = /is running: (http:\/\/\S+)/.exec(output)
      if (m) return m[1] as string
      if (child.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`dev did not start:\n${output}`)
  })()
  return { child, url, exited, output: () => output }
}

async function stop(child: ChildProcess, exited: Promise<number | null>) {
  child.kill('SIGINT')
  return await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))])
}

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('ops-control-room dev', () => {
  it('starts everything on an embedded PostgreSQL, keeps data across restarts and stops on Ctrl-C', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ops-dev-test-'))
    dirs.push(dataDir)
    const first = startDev(['--data-dir', dataDir])
    const url = await first.url
    expect(first.output()).toMatch(/initialising a new PostgreSQL cluster/)
    expect(first.output()).toMatch(/applying migrations — \d+ applied/)
    const config = (await (await fetch(`${url}/ops-config.json`)).json()) as { apiUrl: string; token: string }
    expect(config.apiUrl).toBe(url)
    const headers = { authorization: `Bearer ${config.token}`, 'content-type': 'application/json' }
    const templates = (await (await fetch(`${url}/templates`, { headers })).json()) as { name: string }[]
    expect(templates.map((t) => t.name).sort()).toEqual(['demo', 'shell', 'sleep', 'spec-kit'])
    // A demo run goes through the in-process worker, with its artifacts.
    const session = (await (
      await fetch(`${url}/sessions`, { method: 'POST', headers, body: JSON.stringify({ name: 'dev test' }) })
    ).json()) as { id: string }
    const [run] = (await (
      await fetch(`${url}/runs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          sessionId: session.id,
          runs: [{ template: { name: 'demo' }, params: { steps: 2, stepMs: 50 } }],
        }),
      })
    ).json()) as { id: string }[]
    let status = ''
    for (let i = 0; i < 100 && status !== 'succeeded'; i++) {
      await new Promise((r) => setTimeout(r, 100))
      status = ((await (await fetch(`${url}/runs/${run?.id}`, { headers })).json()) as { status: string })
        .status
    }
    expect(status).toBe('succeeded')
    const artifacts = (await (await fetch(`${url}/runs/${run?.id}/artifacts`, { headers })).json()) as {
      name: string
    }[]
    expect(artifacts.map((a) => a.name).sort()).toEqual(['chart.svg', 'output.log', 'report.md'])
    expect(await stop(first.child, first.exited)).toBe(0)
    expect(first.output()).toMatch(/✓ stopping/)
    expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true)

    // Restart on the same folder: nothing to initialise or migrate, the session is still there.
    const second = startDev(['--data-dir', dataDir, '--no-worker'])
    const url2 = await second.url
    expect(second.output()).not.toMatch(/initialising/)
    expect(second.output()).toMatch(/up to date/)
    const token2 = ((await (await fetch(`${url2}/ops-config.json`)).json()) as { token: string }).token
    const sessions = (await (
      await fetch(`${url2}/sessions`, { headers: { authorization: `Bearer ${token2}` } })
    ).json()) as { name: string }[]
    expect(sessions.map((s) => s.name)).toContain('dev test')
    expect(await stop(second.child, second.exited)).toBe(0)
  })

  it('with --ephemeral removes its database on exit', async () => {
    const dev = startDev(['--ephemeral', '--no-worker'])
    await dev.url
    const dir = /initialising a new PostgreSQL cluster in (\S+)\/pg/.exec(dev.output())?.[1]
    expect(dir).toBeTruthy()
    expect(existsSync(dir as string)).toBe(true)
    expect(await stop(dev.child, dev.exited)).toBe(0)
    expect(existsSync(dir as string)).toBe(false)
  })
})
