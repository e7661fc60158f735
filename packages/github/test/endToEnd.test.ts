import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { createWorker, filesystemArtifactStore, type Worker } from '@ops-control-room/worker'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CheckReporter, createCheckReporter } from '../src/checkReporter'
import { createGithubApp } from '../src/githubApp'
import { createPipelineHandler } from '../src/pipelineHandler'
import { createStepHandler } from '../src/stepHandler'
import { createGithubWebhookHandler } from '../src/webhookHandler'
import { createGitRepo, type FakeGithub, startFakeGithub } from './fakeGithub'
import { pullRequestPayload, webhookRequest } from './helpers'

const APP_ID = 4242
const PIPELINE = `
steps:
  - name: pass
    command: echo "hello from $OPS_GITHUB_SHA"; echo "secret is [$DEPLOY_TOKEN] other [$PATH_SECRET]"
    env: [DEPLOY_TOKEN, PATH_SECRET]
  - name: fail
    command: echo "about to fail" >&2; exit 3
    lane: C
`
const SLOW = `
steps:
  - name: slow
    command: echo started; sleep 60; echo never
`

let db: TestDatabase
let sql: postgres.Sql
let client: OpsClient
let github: FakeGithub
let worker: Worker
let reporter: CheckReporter
let dir: string
let shas: string[]
let webhook: ReturnType<typeof createGithubWebhookHandler>
const errors: unknown[] = []

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 50_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) {
      console.log(
        JSON.stringify(
          {
            records: github.records.slice(-12),
            errors: errors.map(String).slice(-5),
            runs: await sql`select kind, status, error, attempt from ops.runs`,
            outbox: await sql`select * from ops.github_outbox order by id desc limit 5`,
          },
          null,
          1,
        ),
      )
      throw new Error(`timed out waiting for ${what}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-github-e2e-'))
  ;({ shas } = {
    shas: [],
  })
  const repo = createGitRepo(dir, [
    { '.ops/pipeline.yml': PIPELINE, 'README.md': 'one' },
    { '.ops/pipeline.yml': 'steps:\n  - name: bad name!\n    lane: Z\n', 'README.md': 'two' },
    { '.ops/pipeline.yml': SLOW },
    { 'package.json': JSON.stringify({ name: 'x', scripts: { test: 'node -e "console.log(42)"' } }) },
    { '.ops/pipeline.yml': 'steps:\n  - name: hangs\n    command: echo waiting; sleep 30\n    timeout: 1\n' },
  ])
  shas = repo.shas
  github = await startFakeGithub({ appId: APP_ID, bareRepo: repo.bare })
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 6, onnotice: () => {} })
  client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  const app = createGithubApp({
    appId: APP_ID,
    privateKey: github.privateKey,
    baseUrl: github.url,
    writeIntervalMs: 0,
    retryBaseMs: 20,
  })
  webhook = createGithubWebhookHandler({ sql, secret: 'test-webhook-secret' })
  worker = createWorker({
    client,
    pollIntervalMs: 200,
    heartbeatIntervalMs: 500,
    artifactStore: filesystemArtifactStore({ root: join(dir, 'artifacts') }),
    handlers: [
      createPipelineHandler({ app, client }),
      createStepHandler({
        app,
        cloneUrl: () => `file://${repo.bare}`,
        passEnv: ['DEPLOY_TOKEN'],
        envSource: { PATH: process.env.PATH, DEPLOY_TOKEN: 'tok-123-secret', PATH_SECRET: 'not-allowed' },
        killGraceMs: 500,
      }),
    ],
  })
  await worker.start()
  reporter = createCheckReporter({
    sql,
    app,
    runboardUrl: 'http://runboard.test',
    pollIntervalMs: 200,
    onError: (e) => errors.push(e),
  })
  await reporter.start()
})

afterAll(async () => {
  await reporter?.stop()
  await worker?.stop()
  await client?.close()
  await sql?.end()
  await github?.close()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

const post = async (payload: unknown, event = 'pull_request') => {
  const res = await webhook(webhookRequest(event, payload))
  expect(res.status).toBe(200)
  return (await res.json()) as { outcome: string; sessionId: string }
}

describe('webhook → session → worker → check runs', () => {
  it('runs the pipeline of the commit and completes its check runs with the right conclusions', async () => {
    const sha = shas[0] as string
    // The first check-run create meets a rate limit and a 502: both are retried.
    github.faults.push(
      {
        method: 'POST',
        path: /check-runs$/,
        status: 403,
        headers: {
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1),
        },
        body: { message: 'API rate limit exceeded for installation ID 1.' },
      },
      { method: 'POST', path: /check-runs$/, status: 502, body: { message: 'Server Error' } },
    )
    const { sessionId } = await post(pullRequestPayload(sha, 'opened'))
    const checks = await until('three completed check runs', () => {
      const c = github.checksOf(sha)
      return ['pipeline', 'pass', 'fail'].every((n) => c[n]?.status === 'completed') && c
    })
    expect(checks.pipeline?.conclusion).toBe('success')
    expect(checks.pass?.conclusion).toBe('success')
    expect(checks.fail?.conclusion).toBe('failure')
    expect(checks.fail?.output?.title).toBe('failed: fail exited with code 3')
    expect(checks.fail?.output?.text).toContain('about to fail')
    expect(checks.pass?.output?.text).toContain(`hello from ${sha}`)
    // Allowed names pass, others do not, and values are redacted from what is shown.
    expect(checks.pass?.output?.text).toContain('secret is [***] other []')
    expect(checks.pass?.output?.text).toContain('not passing PATH_SECRET')
    expect(checks.pass?.details_url).toMatch(new RegExp(`^http://runboard.test/#session=${sessionId}&run=`))

    // The rate-limited and failed attempts are on record, then the creates went through.
    const creates = github.records.filter((r) => r.method === 'POST' && r.path.endsWith('/check-runs'))
    expect(creates.slice(0, 2).map((r) => r.status)).toEqual([403, 502])
    // Each check run ended completed, and no state was reported twice (states that passed while a
    // report was due are coalesced: GitHub gets the latest).
    for (const name of ['pipeline', 'pass', 'fail']) {
      const id = checks[name]?.id
      const sent = github.records
        .filter((r) => r.checkRunId === id && r.status < 300)
        .map((r) => r.body?.status)
      expect(sent.at(-1)).toBe('completed')
      expect(new Set(sent).size).toBe(sent.length)
    }

    // Tokens were minted through the App JWT exchange, narrowed for cloning, and appear nowhere.
    const exchanges = github.records.filter((r) => r.path.endsWith('/access_tokens'))
    expect(exchanges.every((r) => r.status === 201)).toBe(true)
    expect(exchanges.some((r) => JSON.stringify(r.body?.permissions) === '{"contents":"read"}')).toBe(true)
    const dump = JSON.stringify(
      await sql`select (select json_agg(e) from ops.run_events e) as e, (select json_agg(r) from ops.runs r) as r,
        (select json_agg(a) from ops.artifacts a) as a`,
    )
    for (const token of github.tokens) expect(dump).not.toContain(token)
    expect(dump).not.toContain('tok-123-secret')
    const logs = await sql`select name from ops.artifacts a join ops.runs r on r.id = a.run_id
      where r.session_id = ${sessionId} order by name`
    expect(logs.map((l) => l.name)).toEqual(['fail.log', 'pass.log'])
    const [passLog] = await sql`select a.storage_path from ops.artifacts a join ops.runs r on r.id = a.run_id
      where r.session_id = ${sessionId} and a.name = 'pass.log'`
    const text = await readFile(join(dir, 'artifacts', passLog?.storage_path), 'utf8')
    expect(text).toContain(`$ git fetch Codertocat/Hello-World ${sha}`)
    expect(text).toContain(`hello from ${sha}`)
    expect(text).toContain('secret is [***]')
    for (const token of github.tokens) expect(text).not.toContain(token)
  })

  it('an invalid pipeline file becomes a failed check run that says what is wrong', async () => {
    const sha = shas[1] as string
    await post(pullRequestPayload(sha, 'opened'))
    const check = await until('the pipeline check', () => {
      const c = github.checksOf(sha).pipeline
      return c?.status === 'completed' && c
    })
    expect(check.conclusion).toBe('failure')
    expect(check.output?.summary).toContain('steps.0.name')
    expect(check.output?.summary).toContain('steps.0.command')
    expect(check.output?.summary).toContain('steps.0.lane')
  })

  it('without a pipeline file, the default pipeline runs package.json scripts', async () => {
    const sha = shas[3] as string
    const p = pullRequestPayload(sha, 'opened')
    p.pull_request.number = 99
    await post(p)
    const check = await until('the test check', () => {
      const c = github.checksOf(sha).test
      return c?.status === 'completed' && c
    })
    expect(check.conclusion).toBe('success')
    expect(check.output?.text).toContain('42')
  })

  it('a new commit on the pull request cancels the running step of the older one', async () => {
    const slow = shas[2] as string
    const p = pullRequestPayload(slow, 'opened')
    p.pull_request.number = 7
    await post(p)
    await until('the slow step in progress', () => github.checksOf(slow).slow?.status === 'in_progress')
    const [running] =
      await sql`select id from ops.runs where params ->> 'sha' = ${slow} and kind = 'github_step'`
    const next = pullRequestPayload(shas[3] as string, 'synchronize')
    next.pull_request.number = 7
    await post(next)
    const check = await until('the slow check cancelled', () => {
      const c = github.checksOf(slow).slow
      return c?.status === 'completed' && c
    })
    expect(check.conclusion).toBe('cancelled')
    expect(check.output?.title).toBe(`cancelled: superseded by ${(shas[3] as string).slice(0, 7)}`)
    const [row] = await sql`select status from ops.runs where id = ${running?.id}`
    expect(row?.status).toBe('cancelled')
  })

  it('a step past its timeout is killed and its check run ends timed_out', async () => {
    const sha = shas[4] as string
    const p = pullRequestPayload(sha, 'opened')
    p.pull_request.number = 55
    await post(p)
    const check = await until('the hangs check', () => {
      const c = github.checksOf(sha).hangs
      return c?.status === 'completed' && c
    })
    expect(check.conclusion).toBe('timed_out')
    expect(check.output?.title).toBe('timed out after 1 s')
    expect(check.output?.text).toContain('waiting')
  })

  it('a rerequested check run runs that step again', async () => {
    const sha = shas[0] as string
    const fail = github.checksOf(sha).fail
    const payload = {
      action: 'rerequested',
      check_run: { id: fail?.id, head_sha: sha, name: 'fail' },
      repository: { full_name: 'Codertocat/Hello-World' },
      installation: { id: 1 },
    }
    const res = await webhook(webhookRequest('check_run', payload))
    expect((await res.json()).outcome).toBe('rerun')
    await until('a second fail check run completed', () => {
      const fails = [...github.checkRuns.values()].filter((c) => c.head_sha === sha && c.name === 'fail')
      return fails.length === 2 && fails.every((c) => c.status === 'completed')
    })
  })
})
