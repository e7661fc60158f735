import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGithubWebhookHandler } from '../src/webhookHandler'
import { example, pullRequestPayload, SHA_A, SHA_B, sign, webhookRequest } from './helpers'

let db: TestDatabase
let sql: postgres.Sql
let handler: ReturnType<typeof createGithubWebhookHandler>
const errors: unknown[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 4, onnotice: () => {} })
  handler = createGithubWebhookHandler({
    sql,
    secret: 'test-webhook-secret',
    maxBodyBytes: 256 * 1024,
    onError: (e) => errors.push(e),
  })
})
afterAll(async () => {
  await sql.end()
  await db.drop()
})

const counts = async () => {
  const [row] = await sql`select
    (select count(*)::int from ops.github_deliveries) as deliveries,
    (select count(*)::int from ops.sessions) as sessions,
    (select count(*)::int from ops.runs) as runs`
  return row as { deliveries: number; sessions: number; runs: number }
}

describe('github webhook handler', () => {
  it('refuses a bad or missing signature with 401 and writes nothing', async () => {
    const before = await counts()
    const payload = pullRequestPayload(SHA_A)
    const bad = await handler(webhookRequest('pull_request', payload, { signature: sign('other body') }))
    expect(bad.status).toBe(401)
    expect((await bad.json()).error.code).toBe('unauthorized')
    const wrongSecret = await handler(
      webhookRequest('pull_request', payload, { signature: sign(JSON.stringify(payload), 'nope') }),
    )
    expect(wrongSecret.status).toBe(401)
    const missing = await handler(webhookRequest('pull_request', payload, { signature: null }))
    expect(missing.status).toBe(401)
    expect(await counts()).toEqual(before)
  })

  it('refuses a body over the limit with 413 before verifying it', async () => {
    const payload = { ...pullRequestPayload(SHA_A), padding: 'x'.repeat(300 * 1024) }
    const res = await handler(webhookRequest('pull_request', payload))
    expect(res.status).toBe(413)
  })

  it('enqueues one session with a pipeline run for a pull request, once per delivery and commit', async () => {
    const payload = pullRequestPayload(SHA_A)
    const res = await handler(webhookRequest('pull_request', payload, { delivery: 'd-1' }))
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.outcome).toBe('enqueued')
    const [session] = await sql`select * from ops.sessions where id = ${body.sessionId}`
    expect(session?.name).toBe('Codertocat/Hello-World #2 · aaaaaaa (pull_request synchronize)')
    expect(session?.metadata.github).toMatchObject({
      repository: 'Codertocat/Hello-World',
      sha: SHA_A,
      pr: 2,
      delivery: 'd-1',
    })
    const runs =
      await sql`select kind, params, idempotency_key from ops.runs where session_id = ${body.sessionId}`
    expect(runs).toHaveLength(1)
    expect(runs[0]?.kind).toBe('github_pipeline')
    expect(runs[0]?.params).toMatchObject({
      repository: 'Codertocat/Hello-World',
      installationId: 1,
      sha: SHA_A,
      prNumber: 2,
      fork: false,
    })

    // GitHub's redelivery: same delivery id.
    const before = await counts()
    const again = await handler(webhookRequest('pull_request', payload, { delivery: 'd-1' }))
    expect((await again.json()).outcome).toBe('duplicate_delivery')
    // Another event for the same commit (e.g. reopened, or the check_suite GitHub sends too).
    const other = await handler(
      webhookRequest('pull_request', pullRequestPayload(SHA_A, 'reopened'), { delivery: 'd-2' }),
    )
    expect(await other.json()).toMatchObject({ outcome: 'duplicate_commit', sessionId: body.sessionId })
    const after = await counts()
    expect(after.sessions).toBe(before.sessions)
    expect(after.runs).toBe(before.runs)
  })

  it('duplicate deliveries at once enqueue one session', async () => {
    const payload = pullRequestPayload('c'.repeat(40), 'opened')
    payload.pull_request.number = 77
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        handler(webhookRequest('pull_request', payload, { delivery: `race-${i}` })).then((r) => r.json()),
      ),
    )
    expect(results.filter((r) => r.outcome === 'enqueued')).toHaveLength(1)
    expect(new Set(results.map((r) => r.sessionId)).size).toBe(1)
  })

  it('a new commit on the pull request cancels the queued runs of the older one', async () => {
    const [old] =
      await sql`select r.id from ops.runs r join ops.github_sessions g on g.session_id = r.session_id
      where g.head_sha = ${SHA_A}`
    const res = await handler(webhookRequest('pull_request', pullRequestPayload(SHA_B), { delivery: 'd-3' }))
    expect(await res.json()).toMatchObject({ outcome: 'enqueued', superseded: 1 })
    const [row] = await sql`select status, cancel_reason from ops.runs where id = ${old?.id}`
    expect(row).toMatchObject({ status: 'cancelled', cancel_reason: 'superseded by bbbbbbb' })
    const [fresh] =
      await sql`select r.status from ops.runs r join ops.github_sessions g on g.session_id = r.session_id
      where g.head_sha = ${SHA_B}`
    expect(fresh?.status).toBe('queued')
  })

  it('closing the pull request cancels its queued and running runs', async () => {
    const closed = pullRequestPayload(SHA_B, 'closed')
    const res = await handler(webhookRequest('pull_request', closed, { delivery: 'close-1' }))
    expect(await res.json()).toMatchObject({ outcome: 'closed', cancelled: 1 })
    const [fresh] = await sql`select r.status, r.cancel_reason from ops.runs r
      join ops.github_sessions g on g.session_id = r.session_id where g.head_sha = ${SHA_B}`
    expect(fresh).toMatchObject({ status: 'cancelled', cancel_reason: 'pull request #2 closed' })
  })

  it('ignores a payload whose repository or sha does not fit', async () => {
    const odd = pullRequestPayload(SHA_A, 'opened')
    odd.repository.full_name = 'no slash here'
    const res = await handler(webhookRequest('pull_request', odd))
    expect(res.status).toBe(202)
    expect((await res.json()).reason).toMatch(/unexpected payload: repository/)
  })

  it('does not run pull requests from forks by default', async () => {
    const payload = pullRequestPayload('d'.repeat(40), 'opened')
    payload.pull_request.head.repo.full_name = 'mallory/Hello-World'
    const before = await counts()
    const res = await handler(webhookRequest('pull_request', payload, { delivery: 'fork-1' }))
    expect(res.status).toBe(202)
    expect((await res.json()).outcome).toBe('fork_skipped')
    const after = await counts()
    expect(after.runs).toBe(before.runs)
    expect(after.deliveries).toBe(before.deliveries + 1)
  })

  it('runs a fork pull request when the label policy says so, marked as a fork', async () => {
    const labelled = createGithubWebhookHandler({
      sql,
      secret: 'test-webhook-secret',
      forks: { policy: 'label', label: 'safe to test' },
    })
    const payload = pullRequestPayload('e'.repeat(40), 'labeled')
    payload.pull_request.head.repo.full_name = 'mallory/Hello-World'
    payload.label = { name: 'safe to test' }
    const res = await labelled(webhookRequest('pull_request', payload, { delivery: 'fork-2' }))
    const body = await res.json()
    expect(body.outcome).toBe('rerun')
    const [run] = await sql`select params from ops.runs where session_id = ${body.sessionId}`
    expect(run?.params.fork).toBe(true)
    // synchronize of a fork (new, unreviewed code) does not run even with the label policy.
    const sync = pullRequestPayload('f'.repeat(40))
    sync.pull_request.head.repo.full_name = 'mallory/Hello-World'
    expect((await (await labelled(webhookRequest('pull_request', sync))).json()).outcome).toBe('fork_skipped')
  })

  it('runs the commit a maintainer approved when the approval policy says so', async () => {
    const approving = createGithubWebhookHandler({
      sql,
      secret: 'test-webhook-secret',
      forks: { policy: 'approval' },
    })
    const review = example('pull_request_review', 'submitted')
    review.installation = { id: 1 }
    review.pull_request.head.repo.full_name = 'mallory/Hello-World'
    review.review.commit_id = '9'.repeat(40)
    // A comment is not an approval; an approval by someone without write access is not either.
    expect((await (await approving(webhookRequest('pull_request_review', review))).json()).outcome).toBe(
      'fork_skipped',
    )
    review.review.state = 'approved'
    review.review.author_association = 'CONTRIBUTOR'
    expect((await (await approving(webhookRequest('pull_request_review', review))).json()).outcome).toBe(
      'fork_skipped',
    )
    review.review.author_association = 'MEMBER'
    const res = await approving(webhookRequest('pull_request_review', review))
    const body = await res.json()
    expect(body.outcome).toBe('rerun')
    const [run] = await sql`select params from ops.runs where session_id = ${body.sessionId}`
    expect(run?.params).toMatchObject({ sha: '9'.repeat(40), fork: true })
    // The default handler (policy never) ignores reviews.
    expect((await handler(webhookRequest('pull_request_review', review))).status).toBe(202)
  })

  it('answers 202 to events it does not handle, and to pushes to other branches', async () => {
    const ping = await handler(webhookRequest('ping', example('ping')))
    expect(ping.status).toBe(202)
    const star = await handler(webhookRequest('star', example('star')))
    expect(star.status).toBe(202)
    const tag = await handler(webhookRequest('push', { ...example('push'), installation: { id: 1 } }))
    expect(tag.status).toBe(202)
    expect((await tag.json()).reason).toMatch(/refs\/tags\/simple-tag/)
  })

  it('runs pushes to the default branch', async () => {
    const push = example('push')
    push.ref = 'refs/heads/master'
    push.after = '1'.repeat(40)
    push.installation = { id: 1 }
    const res = await handler(webhookRequest('push', push))
    expect(await res.json()).toMatchObject({ outcome: 'enqueued' })
  })

  it('a rerequested check suite runs the commit again in a session of its own', async () => {
    const p = example('check_suite', 'rerequested')
    p.check_suite.head_sha = SHA_B
    p.check_suite.pull_requests = []
    const res = await handler(webhookRequest('check_suite', p, { delivery: 'suite-1' }))
    const body = await res.json()
    expect(body.outcome).toBe('rerun')
    const [g] = await sql`select key from ops.github_sessions where session_id = ${body.sessionId}`
    expect(g?.key).toBe(`Codertocat/Hello-World@${SHA_B}#suite-1`)
  })

  it('a check_run rerequest for an unknown check run is ignored', async () => {
    const res = await handler(webhookRequest('check_run', example('check_run', 'rerequested')))
    expect(res.status).toBe(202)
  })

  it('rejects a missing delivery id and a non-JSON body', async () => {
    const req = webhookRequest('pull_request', pullRequestPayload(SHA_A))
    const headers = new Headers(req.headers)
    headers.delete('x-github-delivery')
    const res = await handler(new Request(req.url, { method: 'POST', headers, body: await req.text() }))
    expect(res.status).toBe(400)
    const text = 'not json'
    const res2 = await handler(
      new Request(req.url, {
        method: 'POST',
        headers: { 'x-github-event': 'push', 'x-github-delivery': 'x1', 'x-hub-signature-256': sign(text) },
        body: text,
      }),
    )
    expect(res2.status).toBe(400)
    expect(errors).toEqual([])
  })
})
