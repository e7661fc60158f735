import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { createWorker, type Worker } from '@ops-control-room/worker'
import postgres from 'postgres'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type CheckReporter, createCheckReporter } from '../src/checkReporter'
import { createGithubApp } from '../src/githubApp'
import { createPipelineHandler } from '../src/pipelineHandler'
import { createStepHandler } from '../src/stepHandler'
import { createGithubWebhookHandler } from '../src/webhookHandler'
import { createGitRepo, type FakeGithub, startFakeGithub } from './fakeGithub'
import { pullRequestPayload, webhookRequest } from './helpers'

const packageDir = resolve(import.meta.dirname, '..')
let db: TestDatabase
let sql: postgres.Sql
let client: OpsClient
let github: FakeGithub
let reporter: CheckReporter
let dir: string
let bare: string
let sha: string
let child: ChildProcess | undefined
let worker: Worker | undefined

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-github-recovery-'))
  // The step outlives its killed worker by a little: its process group is orphaned, not killed.
  const repo = createGitRepo(dir, [
    { '.ops/pipeline.yml': 'steps:\n  - name: slow\n    command: echo started; sleep 2; echo finished\n' },
  ])
  bare = repo.bare
  sha = repo.shas[0] as string
  github = await startFakeGithub({ appId: 9, bareRepo: bare })
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 4, onnotice: () => {} })
  client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  const app = createGithubApp({
    appId: 9,
    privateKey: github.privateKey,
    baseUrl: github.url,
    writeIntervalMs: 0,
  })
  reporter = createCheckReporter({ sql, app, pollIntervalMs: 200 })
  await reporter.start()
})

afterAll(async () => {
  child?.kill('SIGKILL')
  await worker?.stop()
  await reporter?.stop()
  await client?.close()
  await sql?.end()
  await github?.close()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

it('a worker killed mid-step: the run is recovered, runs again elsewhere, and its check run completes', async () => {
  child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/stepWorker.ts'], {
    cwd: packageDir,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      APP_ID: '9',
      APP_PRIVATE_KEY: github.privateKey,
      GITHUB_API: github.url,
      BARE_REPO: bare,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const started: string[] = []
  let ready = false
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const msg = JSON.parse(line) as { msg: string; kind?: string }
    if (msg.msg === 'ready') ready = true
    if (msg.msg === 'started' && msg.kind) started.push(msg.kind)
  })
  const exited = new Promise((r) => child?.on('exit', r))
  await until('the worker process', () => ready)

  const handler = createGithubWebhookHandler({ sql, secret: 'test-webhook-secret' })
  const res = await handler(webhookRequest('pull_request', pullRequestPayload(sha, 'opened')))
  expect(res.status).toBe(200)
  await until(
    'the step in progress on the worker process',
    () => github.checksOf(sha).slow?.status === 'in_progress',
  )
  expect(started).toEqual(['github_pipeline', 'github_step'])
  child.kill('SIGKILL')
  await exited

  // Another worker, whose sweeper recovers runs silent for a second.
  worker = createWorker({
    client,
    pollIntervalMs: 200,
    heartbeatIntervalMs: 300,
    heartbeatTimeoutSeconds: 1,
    sweepIntervalMs: 300,
    handlers: [
      createPipelineHandler({
        app: createGithubApp({
          appId: 9,
          privateKey: github.privateKey,
          baseUrl: github.url,
          writeIntervalMs: 0,
        }),
        client,
      }),
      createStepHandler({
        app: createGithubApp({
          appId: 9,
          privateKey: github.privateKey,
          baseUrl: github.url,
          writeIntervalMs: 0,
        }),
        cloneUrl: () => `file://${bare}`,
      }),
    ],
  })
  await worker.start()
  const check = await until('the check run completed', () => {
    const c = github.checksOf(sha).slow
    return c?.status === 'completed' && c
  })
  expect(check.conclusion).toBe('success')
  expect(check.output?.summary).toContain('Attempt 2 of 2')
  expect(check.output?.text).toContain('finished')
  const [run] = await sql`select status, attempt from ops.runs where kind = 'github_step'`
  expect(run).toMatchObject({ status: 'succeeded', attempt: 2 })
}, 180_000)
