import { createOpsClient, httpBackend, type OpsClient, type OpsError } from '@ops-control-room/core'
import * as browser from '@ops-control-room/core/client'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

// `@ops-control-room/core/client` leaves input validation to the server. These tests hold it to the
// same verdicts as the validating client of `@ops-control-room/core`, over the same real server.

let t: TestServer
let validating: OpsClient
let light: browser.OpsClient
let sessionId: string
beforeAll(async () => {
  t = await startTestServer()
  validating = createOpsClient({ backend: httpBackend({ url: t.server.url, token: t.tokens.service_role }) })
  light = browser.createOpsClient({
    backend: browser.httpBackend({ url: t.server.url, token: t.tokens.service_role }),
  })
  sessionId = (await light.sessions.create({ name: 'browser client' })).id
})
afterAll(async () => {
  await validating?.close()
  await light?.close()
  await t?.teardown()
})

async function failure(p: Promise<unknown>): Promise<{ cls: string; code: string; paths: string[] }> {
  try {
    await p
  } catch (err) {
    const e = err as OpsError
    const issues = (e.details as { issues?: { path: string }[] } | undefined)?.issues ?? []
    return { cls: e.constructor.name, code: e.code, paths: issues.map((i) => i.path).sort() }
  }
  throw new Error('expected a rejection')
}

type Call = (c: OpsClient) => Promise<unknown>
const bad: [string, Call][] = [
  ['an empty session name', (c) => c.sessions.create({ name: '  ' })],
  ['an unknown field', (c) => c.sessions.create({ name: 'x', colour: 'red' } as never)],
  ['no runs', (c) => c.runs.enqueue({ sessionId, runs: [] })],
  [
    'a bad lane and kind',
    (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'Bad Kind', lane: 'E' as never }] }),
  ],
  ['a kind-less run', (c) => c.runs.enqueue({ sessionId, runs: [{ lane: 'A' }] })],
  [
    'a secret in params',
    (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', params: { db: { password: 'hunter2!' } } }] }),
  ],
  ['a limit of 0', (c) => c.runs.list({ limit: 0 })],
  ['afterSeq with beforeSeq', (c) => c.runs.list({ afterSeq: 1, beforeSeq: 5 })],
  ['a bad session id in a query', (c) => c.runs.list({ sessionId: 'nope' })],
  ['a non-uuid id', (c) => c.runs.get('nope')],
  ['a cancel of no runs', (c) => c.runs.cancelMany({ ids: [] })],
  ['a bad template name', (c) => c.templates.get({ name: 'Not A Name' })],
  [
    'a params schema RE2 cannot run',
    (c) =>
      c.templates.create({
        name: 't-bad',
        kind: 'x',
        paramsSchema: { type: 'object', properties: { a: { type: 'string', pattern: '(a)\\1' } } },
      }),
  ],
  ['a malformed lease', (c) => c.worker.heartbeat({ workerId: 'w', runs: [{ id: sessionId, lease: 'x' }] })],
]

describe('createOpsClient of @ops-control-room/core/client', () => {
  it.each(bad)('refuses %s as the validating client does', async (_, call) => {
    const before = await t.fingerprint()
    const expected = await failure(call(validating))
    const got = await failure(call(light as OpsClient))
    expect(got).toEqual(expected)
    expect(expected.code).toMatch(/^(validation|secret_in_params)$/)
    expect(await t.fingerprint()).toBe(before)
  })

  it('enqueues, lists and reads runs, and enqueues from templates checked by the server', async () => {
    const [run] = await light.runs.enqueue({ sessionId, runs: [{ kind: 'x', lane: 'B', params: { n: 1 } }] })
    expect(run).toMatchObject({ sessionId, kind: 'x', lane: 'B', status: 'queued', params: { n: 1 } })
    expect((await light.runs.get(run?.id as string)).id).toBe(run?.id)
    expect((await light.runs.list({ sessionId })).map((r) => r.id)).toContain(run?.id)
    // Defaults are the server's: no limit given, a page still comes back.
    expect((await light.sessions.list()).length).toBeGreaterThan(0)

    await light.templates.create({
      name: 'greet',
      kind: 'x',
      defaultParams: { who: 'world' },
      paramsSchema: {
        type: 'object',
        properties: { who: { type: 'string', minLength: 2 } },
        required: ['who'],
      },
    })
    const fromTemplate = await light.templates.enqueue({ sessionId, name: 'greet', params: { who: 'ops' } })
    expect(fromTemplate).toMatchObject({ templateName: 'greet', templateVersion: 1, params: { who: 'ops' } })
    const refused = await failure(light.templates.enqueue({ sessionId, name: 'greet', params: { who: 'x' } }))
    expect(refused).toMatchObject({ cls: 'ValidationError', code: 'validation' })
    expect(await failure(light.templates.enqueue({ sessionId, name: 'absent' }))).toMatchObject({
      code: 'not_found',
    })
    expect(await failure(light.runs.get('00000000-0000-4000-8000-00000000abcd'))).toMatchObject({
      cls: 'NotFoundError',
    })
  })

  it('refuses a backend that does not validate on a server', () => {
    const backend = postgresBackend({ databaseUrl: t.db.url })
    try {
      expect(() => browser.createOpsClient({ backend })).toThrow(/leaves validation to the server.*postgres/)
    } finally {
      void backend.close()
    }
    expect(() => browser.createOpsClient({} as never)).toThrow(/needs \{ backend \}/)
  })
})
