import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backoffSeconds, createCheckReporter } from '../src/checkReporter'
import { createGithubApp } from '../src/githubApp'
import { createGitRepo, type FakeGithub, startFakeGithub } from './fakeGithub'

let db: TestDatabase
let sql: postgres.Sql
let client: OpsClient
let dir: string
let denied: FakeGithub
let github: FakeGithub

const params = (sha: string, name: string) => ({
  repository: 'octo/app',
  installationId: 7,
  sha,
  deliveryId: 'd',
  trigger: 'push',
  step: { name, command: 'true', env: [] },
})

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-github-reporter-'))
  const { bare } = createGitRepo(dir, [{ 'README.md': 'x' }])
  denied = await startFakeGithub({ appId: 1, bareRepo: bare, checksDenied: true })
  github = await startFakeGithub({ appId: 1, bareRepo: bare })
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 4, onnotice: () => {} })
  client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
})
afterAll(async () => {
  await client.close()
  await sql.end()
  await denied.close()
  await github.close()
  await db.drop()
  await rm(dir, { recursive: true, force: true })
})

const app = (fake: FakeGithub) =>
  createGithubApp({
    appId: 1,
    privateKey: fake.privateKey,
    baseUrl: fake.url,
    writeIntervalMs: 0,
    retryBaseMs: 5,
  })

describe('check reporter', () => {
  it('falls back to commit statuses when the installation has no checks permission, once per state', async () => {
    const session = await client.sessions.create({ name: 'statuses' })
    const sha = '1'.repeat(40)
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'github_step', params: params(sha, 'lint') }],
    })
    const reporter = createCheckReporter({ sql, app: app(denied), runboardUrl: 'http://rb.test' })
    expect(await reporter.deliverPending()).toBe(1)
    expect(denied.statuses).toEqual([
      expect.objectContaining({ sha, state: 'pending', context: 'ops/lint', description: 'queued' }),
    ])
    expect(await reporter.deliverPending()).toBe(0)
    await client.runs.cancel(run?.id as string, 'not needed')
    expect(await reporter.deliverPending()).toBe(1)
    expect(denied.statuses.map((s) => s.state)).toEqual(['pending', 'error'])
    expect(denied.statuses[1]).toMatchObject({
      description: 'cancelled: not needed',
      target_url: `http://rb.test/#session=${session.id}&run=${run?.id}`,
    })
    // A second notification of the same state reports nothing.
    await sql`insert into ops.github_outbox (run_id, status) values (${run?.id as string}, 'cancelled')`
    await reporter.deliverPending()
    expect(denied.statuses).toHaveLength(2)
  })

  it('backs off after failures, as long as GitHub asks, and gives up after maxAttempts', async () => {
    const session = await client.sessions.create({ name: 'backoff' })
    const sha = '2'.repeat(40)
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'github_step', params: params(sha, 'test') }],
    })
    // Four 503s exhaust the retry plugin's three retries; the outbox then waits as retry-after says.
    for (let i = 0; i < 4; i++) {
      github.faults.push({
        method: 'POST',
        path: /check-runs$/,
        status: 503,
        headers: { 'retry-after': '120' },
      })
    }
    const errors: unknown[] = []
    const reporter = createCheckReporter({
      sql,
      app: app(github),
      maxAttempts: 2,
      onError: (e) => errors.push(e),
    })
    expect(await reporter.deliverPending()).toBe(0)
    expect(errors).toHaveLength(1)
    const [row] = await sql`select attempts, delivered_at, last_error,
      extract(epoch from available_at - now())::int as wait from ops.github_outbox where run_id = ${run?.id as string}`
    expect(row).toMatchObject({ attempts: 1, delivered_at: null })
    expect(row?.last_error).toMatch(/^HTTP 503/)
    expect(row?.wait).toBeGreaterThan(100)
    expect(row?.wait).toBeLessThanOrEqual(120)
    expect(github.records.filter((r) => r.status === 503)).toHaveLength(4)

    // Due again: it goes through now.
    await sql`update ops.github_outbox set available_at = now() where run_id = ${run?.id as string}`
    expect(await reporter.deliverPending()).toBe(1)
    expect(github.checksOf(sha).test).toMatchObject({ status: 'queued', external_id: run?.id })

    // A report that keeps failing is given up after maxAttempts, its last error kept.
    const [doomed] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'github_step', params: params('3'.repeat(40), 'build') }],
    })
    for (let i = 0; i < 8; i++) github.faults.push({ method: 'POST', path: /check-runs$/, status: 500 })
    for (let round = 0; round < 2; round++) {
      await sql`update ops.github_outbox set available_at = now() where run_id = ${doomed?.id as string}`
      expect(await reporter.deliverPending()).toBe(0)
    }
    const [given] =
      await sql`select delivered_at, last_error from ops.github_outbox where run_id = ${doomed?.id as string}`
    expect(given?.delivered_at).not.toBeNull()
    expect(given?.last_error).toMatch(/^gave up: HTTP 500/)
  })

  it('a retry after a create whose answer was lost finds the check run instead of creating another', async () => {
    const session = await client.sessions.create({ name: 'lost answer' })
    const sha = '4'.repeat(40)
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'github_step', params: params(sha, 'e2e') }],
    })
    const runId = run?.id as string
    const reporter = createCheckReporter({ sql, app: app(github) })
    expect(await reporter.deliverPending()).toBe(1)
    // As if the reporter died after GitHub created the check run and before it committed the id.
    await sql`update ops.github_check_runs set check_run_id = null, reported_status = null where run_id = ${runId}`
    await sql`update ops.github_outbox set delivered_at = null, attempts = 1 where run_id = ${runId}`
    await client.runs.cancel(runId, 'lost')
    expect(await reporter.deliverPending()).toBe(1)
    const mine = [...github.checkRuns.values()].filter((c) => c.head_sha === sha)
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({ status: 'completed', conclusion: 'cancelled', external_id: runId })
  })

  it('purges delivered outbox rows and deliveries past the retention, and nothing pending', async () => {
    const session = await client.sessions.create({ name: 'purge' })
    const [run] = await client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'github_step', params: params('5'.repeat(40), 'old') }],
    })
    const runId = run?.id as string
    await sql`insert into ops.github_outbox (run_id, status, delivered_at) values
      (${runId}, 'running', now() - interval '40 days'), (${runId}, 'running', now() - interval '1 day')`
    await sql`update ops.github_outbox set created_at = now() - interval '41 days'
      where run_id = ${runId} and delivered_at is null`
    await sql`insert into ops.github_deliveries (delivery_id, event, outcome, received_at) values
      ('old-1', 'push', 'ignored', now() - interval '31 days'), ('new-1', 'push', 'ignored', now())`
    const reporter = createCheckReporter({ sql, app: app(github), retainDays: 30 })
    expect(await reporter.purge()).toEqual({ outbox: 1, deliveries: 1 })
    const left =
      await sql`select delivered_at is null as pending from ops.github_outbox where run_id = ${runId} order by id`
    expect(left.map((r) => r.pending)).toEqual([true, false])
    expect((await sql`select delivery_id from ops.github_deliveries`).map((r) => r.delivery_id)).toContain(
      'new-1',
    )
  })

  it('computes waits from retry-after, x-ratelimit-reset, or exponentially', () => {
    const reset = String(Math.floor(Date.now() / 1000) + 30)
    expect(backoffSeconds({ response: { headers: { 'retry-after': '7' } } }, 1, 600)).toBe(7)
    const w = backoffSeconds(
      { response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } } },
      1,
      600,
    )
    expect(w).toBeGreaterThanOrEqual(29)
    expect(w).toBeLessThanOrEqual(31)
    expect(backoffSeconds(new Error('x'), 3, 600)).toBe(8)
    expect(backoffSeconds(new Error('x'), 30, 600)).toBe(600)
  })
})
