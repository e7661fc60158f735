import { ErrorBody, ValidationError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, tokenFor } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer({ bodyLimit: 64 * 1024 })
  // The kinds signed-in users enqueue below; any other kind is service_role-only.
  for (const kind of ['build', 'deploy', 'a', 'k'])
    await t.client('service_role').policies.set({ kind, roles: ['authenticated'] })
})
afterAll(() => t.teardown())

const errorOf = async (response: Response) => ErrorBody.parse(await response.json()).error

describe('executor API', () => {
  it('serves the same routes at the root and under the Supabase prefixes', async () => {
    const user = t.client('authenticated')
    const session = await user.sessions.create({ name: 'prefixes' })
    for (const prefix of ['', '/functions/v1/ops-executor', '/ops-executor']) {
      const response = await t.request(`${prefix}/sessions/${session.id}`, { role: 'anon' })
      expect(response.status).toBe(200)
      expect((await response.json()).id).toBe(session.id)
    }
    const health = await t.request('/functions/v1/ops-executor/health', { role: null })
    expect(await health.json()).toMatchObject({ ok: true, database: 'up' })
  })

  it('round-trips the client over HTTP: sessions, runs, templates, events, cancel', async () => {
    const user = t.client('authenticated')
    const service = t.client('service_role')
    const session = await user.sessions.create({ name: 'http client', metadata: { pr: 7 } })
    expect(session.createdBy).toBe('00000000-0000-4000-8000-000000000001')
    const runs = await user.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'build', lane: 'B', params: { command: 'make' } },
        { kind: 'build', lane: 'B', priority: 5 },
      ],
    })
    expect(runs.map((r) => r.status)).toEqual(['queued', 'queued'])
    expect(await user.runs.list({ sessionId: session.id, status: ['queued', 'running'] })).toHaveLength(2)
    expect((await user.runs.get(runs[0]!.id)).params).toEqual({ command: 'make' })

    await service.templates.create({
      name: 'deploy',
      kind: 'deploy',
      lane: 'C',
      defaultParams: { env: 'staging' },
      paramsSchema: { type: 'object', required: ['service'], properties: { service: { type: 'string' } } },
    })
    const fromTemplate = await user.templates.enqueue({
      sessionId: session.id,
      name: 'deploy',
      params: { service: 'api' },
    })
    expect(fromTemplate).toMatchObject({
      kind: 'deploy',
      lane: 'C',
      params: { env: 'staging', service: 'api' },
    })
    await expect(user.templates.enqueue({ sessionId: session.id, name: 'deploy' })).rejects.toBeInstanceOf(
      ValidationError,
    )
    expect((await user.templates.get({ name: 'deploy' })).version).toBe(1)

    const [claimed] = await service.worker.claim({ workerId: 'w1', lanes: { B: 1 } })
    expect(claimed?.id).toBe(runs[1]!.id)
    await service.worker.appendEvents({ events: [{ runId: claimed!.id, message: 'hello' }] })
    const events = await user.events.list({ runId: claimed!.id })
    expect(events.map((e) => e.type)).toEqual(['run:enqueued', 'run:claimed', 'log'])
    const cancelled = await user.runs.cancel(claimed!.id, 'stop')
    expect(cancelled.cancelRequestedAt).not.toBeNull()
    const held = { id: claimed!.id, lease: claimed!.lease as string }
    expect(await service.worker.heartbeat({ workerId: 'w1', runs: [held] })).toEqual({
      cancel: [held],
      lost: [],
    })
    const [acked] = await service.worker.ackCancel({ workerId: 'w1', runs: [held] })
    expect(acked?.status).toBe('cancelled')
    await expect(user.runs.get('00000000-0000-4000-8000-00000000dead')).rejects.toMatchObject({
      code: 'not_found',
    })
  })

  it('answers 401 without a token, with a forged one and with an expired one', async () => {
    const cases = [
      { token: undefined, reason: undefined },
      {
        token: await tokenFor('service_role', { secret: 'another-secret-of-enough-length-xxxxxxxx' }),
        reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      },
      {
        token: await tokenFor('service_role', { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
        reason: 'ERR_JWT_EXPIRED',
      },
      { token: 'not.a.jwt', reason: undefined },
      { token: `${(await tokenFor('service_role')).slice(0, -3)}abc`, reason: undefined },
    ]
    for (const c of cases) {
      const before = await t.fingerprint()
      const response = await t.request('/sessions', {
        method: 'POST',
        role: null,
        token: c.token,
        body: JSON.stringify({ name: 'nope' }),
      })
      expect(response.status).toBe(401)
      const error = await errorOf(response)
      expect(error.code).toBe('unauthorized')
      if (c.reason) expect(error.details).toEqual({ reason: c.reason })
      expect(await t.fingerprint()).toBe(before)
    }
    // An unsigned token (alg none) is never accepted.
    const payload = btoa(
      JSON.stringify({ role: 'service_role', exp: Math.floor(Date.now() / 1000) + 60 }),
    ).replace(/=+$/, '')
    const unsigned = `${btoa(JSON.stringify({ alg: 'none', typ: 'JWT' })).replace(/=+$/, '')}.${payload}.`
    expect((await t.request('/workers', { role: null, token: unsigned })).status).toBe(401)
  })

  it('answers 403 for a role the API does not know', async () => {
    const response = await t.request('/sessions', { role: null, token: await tokenFor('postgres') })
    expect(response.status).toBe(403)
    expect((await errorOf(response)).code).toBe('forbidden')
  })

  it('answers 400 with the zod issues, for malformed JSON and for non-JSON', async () => {
    const bad = await t.request('/runs', {
      method: 'POST',
      body: JSON.stringify({ sessionId: 'nope', runs: [{ kind: 'Bad Kind' }] }),
    })
    expect(bad.status).toBe(400)
    const error = await errorOf(bad)
    expect(error.code).toBe('validation')
    expect((error.details as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      'sessionId',
      'runs[0].kind',
    ])
    const malformed = await t.request('/sessions', { method: 'POST', body: '{"name": "x",' })
    expect(malformed.status).toBe(400)
    expect((await errorOf(malformed)).message).toMatch(/not valid JSON/)
    const text = await t.request('/sessions', {
      method: 'POST',
      body: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(text.status).toBe(400)
    const secret = await t.request('/sessions', {
      method: 'POST',
      body: JSON.stringify({ name: 'x', extra: 1 }),
    })
    expect(secret.status).toBe(400)
  })

  it('refuses bodies over the limit with 413, whether Content-Length says so or not', async () => {
    const before = await t.fingerprint()
    const big = JSON.stringify({ name: 'x', description: 'y'.repeat(100 * 1024) })
    const declared = await t.request('/sessions', { method: 'POST', body: big })
    expect(declared.status).toBe(413)
    expect((await errorOf(declared)).code).toBe('payload_too_large')
    // Chunked: no Content-Length, the handler counts.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(8 * 1024)))
        controller.close()
      },
    })
    const streamed = await t.request('/sessions', {
      method: 'POST',
      body: chunks,
      duplex: 'half',
    } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(await t.fingerprint()).toBe(before)
  })

  it('answers 404 for unknown routes and 405 for wrong methods, in the one error shape', async () => {
    const missing = await t.request('/nope')
    expect(missing.status).toBe(404)
    expect((await errorOf(missing)).code).toBe('not_found')
    const wrong = await t.request('/runs/cancel')
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('POST')
    expect((await errorOf(wrong)).code).toBe('validation')
  })

  it('refuses a signed-in user a kind no policy allows (shell) with 403, writing nothing', async () => {
    const user = t.client('authenticated')
    const session = await user.sessions.create({ name: 'no shell for you' })
    const before = await t.fingerprint()
    const response = await t.request('/runs', {
      method: 'POST',
      role: 'authenticated',
      body: JSON.stringify({ sessionId: session.id, runs: [{ kind: 'shell', params: { command: 'id' } }] }),
    })
    expect(response.status).toBe(403)
    expect(await errorOf(response)).toMatchObject({ code: 'forbidden' })
    expect(await t.fingerprint()).toBe(before)
    // service_role manages policies over HTTP; once allowed, the same request is accepted.
    await t.client('service_role').policies.set({ kind: 'shell', roles: ['authenticated'] })
    expect((await t.client('service_role').policies.list()).map((p) => p.kind)).toContain('shell')
    await expect(
      user.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'shell', params: { command: 'id' } }] }),
    ).resolves.toHaveLength(1)
    expect(await t.client('service_role').policies.delete('shell')).toBe(true)
    await expect(user.policies.list()).rejects.toMatchObject({ code: 'forbidden' })
  })

  it('refuses a caller the route does not allow before reading or validating its body', async () => {
    // Malformed JSON would be a 400 if it were parsed: the 403 shows it never was.
    for (const [role, path] of [
      ['anon', '/runs'],
      ['anon', '/sessions'],
      ['authenticated', '/templates'],
      ['authenticated', '/worker/claim'],
    ] as const) {
      const response = await t.request(path, { method: 'POST', role, body: '{"runs": [' })
      expect([role, path, response.status, (await errorOf(response)).code]).toEqual([
        role,
        path,
        403,
        'forbidden',
      ])
    }
  })

  it('validates template params on POST /runs too (not only /runs/from-template)', async () => {
    await t.client('service_role').templates.create({
      name: 'strict',
      kind: 'deploy',
      paramsSchema: { type: 'object', required: ['service'], properties: { service: { type: 'string' } } },
    })
    const session = await t.client('authenticated').sessions.create({ name: 'strict' })
    const before = await t.fingerprint()
    const bad = await t.request('/runs', {
      method: 'POST',
      role: 'authenticated',
      body: JSON.stringify({
        sessionId: session.id,
        runs: [{ template: { name: 'strict' }, params: { service: 7 } }],
      }),
    })
    expect([bad.status, (await errorOf(bad)).code]).toEqual([400, 'validation'])
    expect(await t.fingerprint()).toBe(before)
    const good = await t.request('/runs', {
      method: 'POST',
      role: 'authenticated',
      body: JSON.stringify({
        sessionId: session.id,
        runs: [{ template: { name: 'strict' }, params: { service: 'api' } }],
      }),
    })
    expect(good.status).toBe(201)
  })

  it('maps database conflicts to 409 and writes nothing on a failed request', async () => {
    const user = t.client('authenticated')
    const session = await user.sessions.create({ name: 'atomic' })
    await user.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'a', idempotencyKey: 'k1' }] })
    const before = await t.fingerprint()
    // The second run's template does not exist: the whole enqueue fails, the first run is not kept.
    const response = await t.request('/runs', {
      method: 'POST',
      role: 'authenticated',
      body: JSON.stringify({
        sessionId: session.id,
        runs: [{ kind: 'a' }, { template: { name: 'missing' } }],
      }),
    })
    expect(response.status).toBe(404)
    expect(await t.fingerprint()).toBe(before)
    // The same idempotency key for a different request: 409 idempotency_conflict, nothing written.
    const reused = await t.request('/runs', {
      method: 'POST',
      role: 'authenticated',
      body: JSON.stringify({
        sessionId: session.id,
        runs: [{ kind: 'a', params: { x: 1 }, idempotencyKey: 'k1' }],
      }),
    })
    expect([reused.status, (await errorOf(reused)).code]).toEqual([409, 'idempotency_conflict'])
    expect(await t.fingerprint()).toBe(before)
    const nul = await t.request('/sessions', { method: 'POST', body: JSON.stringify({ name: 'a\u0000b' }) })
    expect(nul.status).toBe(400)
    expect(await t.fingerprint()).toBe(before)
  })

  it('answers 4xx, not 5xx, to pathologically deep JSON', async () => {
    const user = t.client('authenticated')
    const session = await user.sessions.create({ name: 'deep' })
    let before = await t.fingerprint()
    const statuses: number[] = []
    for (const depth of [1_000, 10_000]) {
      const params = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
      const response = await t.request('/runs', {
        method: 'POST',
        role: 'authenticated',
        body: `{"sessionId":"${session.id}","runs":[{"kind":"k","params":${params}}]}`,
      })
      expect(response.status, await response.clone().text()).toBeLessThan(500)
      statuses.push(response.status)
      if (response.status >= 400) expect(await t.fingerprint()).toBe(before)
      else before = await t.fingerprint()
      await response.body?.cancel()
    }
    // Both reach the handler's parser (under the 64 KiB limit of this server), neither is a 413.
    expect(statuses).not.toContain(413)
  })

  it('answers CORS preflights', async () => {
    const response = await t.request('/runs', { method: 'OPTIONS', role: null })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-headers')).toMatch(/authorization/)
  })
})
