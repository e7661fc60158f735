import { createServer, type OpsServer } from '@ops-control-room/server'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createGithubWebhookHandler } from '../src/webhookHandler'
import { pullRequestPayload, SHA_A, sign } from './helpers'

let db: TestDatabase
let sql: postgres.Sql
let server: OpsServer

beforeAll(async () => {
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
  server = await createServer({
    databaseUrl: db.url,
    jwtSecret: 'x'.repeat(32),
    port: 0,
    sweepIntervalMs: 0,
    liveChanges: false,
    handlers: [
      {
        path: '/github/webhooks',
        handler: createGithubWebhookHandler({ sql, secret: 'test-webhook-secret' }),
      },
    ],
  })
})
afterAll(async () => {
  await server.close()
  await sql.end()
  await db.drop()
})

it('createServer serves the webhook handler at its path over real HTTP', async () => {
  const body = JSON.stringify(pullRequestPayload(SHA_A, 'opened'))
  const post = (signature: string) =>
    fetch(`${server.url}/github/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'pull_request',
        'x-github-delivery': 'http-1',
        'x-hub-signature-256': signature,
      },
      body,
    })
  expect((await post(sign('tampered'))).status).toBe(401)
  const res = await post(sign(body))
  expect(res.status).toBe(200)
  expect((await res.json()).outcome).toBe('enqueued')
  // Other paths still reach the executor API.
  expect((await fetch(`${server.url}/github/webhooks/other`, { method: 'POST' })).status).not.toBe(200)
})
