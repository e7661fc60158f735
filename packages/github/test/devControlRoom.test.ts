import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { createGitRepo, type FakeGithub, startFakeGithub } from './fakeGithub'
import { pullRequestPayload, webhookRequest } from './helpers'

const repoRoot = resolve(import.meta.dirname, '../../..')
let child: ChildProcess | undefined
let github: FakeGithub | undefined
let dir: string | undefined

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.on('exit', r))
    child.kill('SIGTERM')
    await exited
  }
  await github?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

it('`ops-control-room dev` with an App in the environment receives webhooks and reports check runs', async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-github-dev-'))
  const { bare, shas } = createGitRepo(dir, [{ 'README.md': 'no pipeline here' }])
  const sha = shas[0] as string
  github = await startFakeGithub({ appId: 77, bareRepo: bare })
  child = spawn(
    process.execPath,
    ['--import', 'tsx', resolve(repoRoot, 'packages/server/src/cli.ts'), 'dev', '--port', '0', '--ephemeral'],
    {
      cwd: resolve(repoRoot, 'packages/server'),
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: resolve(repoRoot, 'tsconfig.base.json'),
        DATABASE_URL: '',
        GITHUB_APP_ID: '77',
        GITHUB_PRIVATE_KEY: github.privateKey,
        GITHUB_WEBHOOK_SECRET: 'test-webhook-secret',
        GITHUB_API_URL: github.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout?.on('data', (d) => {
    output += String(d)
  })
  child.stderr?.on('data', (d) => {
    output += String(d)
  })
  const deadline = Date.now() + 120_000
  let url: string | undefined
  while (!url) {
    url = /is running: (http:\/\/\S+)/.exec(output)?.[1]
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`dev did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  expect(output).toContain('GitHub App: webhooks at')

  const request = webhookRequest('pull_request', pullRequestPayload(sha, 'opened'), {
    url: `${url}/github/webhooks`,
  })
  const res = await fetch(request.url, {
    method: 'POST',
    headers: request.headers,
    body: await request.text(),
  })
  expect(res.status).toBe(200)
  for (;;) {
    const check = github.checksOf(sha).pipeline
    if (check?.status === 'completed') {
      expect(check.conclusion).toBe('success')
      expect(check.output?.summary).toContain('nothing to run')
      expect(check.details_url).toContain(`${url}/#session=`)
      break
    }
    if (Date.now() > deadline) throw new Error(`no completed check run:\n${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}, 180_000)
