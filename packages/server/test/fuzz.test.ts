import { ErrorBody, ROUTES } from '@ops-control-room/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, tokenFor } from './helpers'

let t: TestServer
let ids: { session: string; run: string }
beforeAll(async () => {
  t = await startTestServer({ bodyLimit: 256 * 1024 })
  const c = t.client('service_role')
  const s = await c.sessions.create({ name: 'fuzz' })
  const [r] = await c.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'f' }] })
  ids = { session: s.id, run: r!.id }
})
afterAll(() => t.teardown())

/** Path parameter values: real ids, random text, encoded junk. */
const pathValue = fc.oneof(
  fc.constant('SESSION'),
  fc.constant('RUN'),
  fc.uuid(),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('..', '%00', '%2e%2e', '%E0%A4%A', 'a%2Fb', ' '),
)

/** Bodies: any JSON, a valid-looking object with junk fields, raw text, bytes that are not UTF-8. */
const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .dictionary(
      fc.constantFrom(
        'name',
        'sessionId',
        'runs',
        'ids',
        'workerId',
        'lanes',
        'runIds',
        'events',
        'artifacts',
        'results',
        'failures',
        'updates',
        'limit',
        'kind',
        'storagePaths',
        'runId',
      ),
      fc.oneof(fc.jsonValue(), fc.uuid(), fc.array(fc.jsonValue(), { maxLength: 3 })),
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }),
)

const query = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'limit',
      'sessionId',
      'status',
      'afterSeq',
      'before',
      'id',
      'storagePath',
      'levels',
      'latestOnly',
      'version',
      'name',
      'afterId',
    ),
    fc.string({ maxLength: 10 }),
  ),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer().map(String),
    fc.constantFrom('-1', '1e309', 'NaN', 'true', '', '9999999999999999999'),
  ),
  { maxKeys: 4 },
)

const auth = fc.oneof(
  { weight: 6, arbitrary: fc.constant('service') },
  fc.constant('none'),
  fc.constant('garbage'),
  fc.constantFrom('anon', 'authenticated', 'postgres', 'supabase_admin'),
)

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
)

describe('fuzzing every endpoint', () => {
  it('answers only 4xx (never 5xx) to bad bodies, queries and headers, and a rejected request writes nothing', async () => {
    const roleTokens: Record<string, string> = {}
    for (const role of ['anon', 'authenticated', 'postgres', 'supabase_admin'])
      roleTokens[role] = await tokenFor(role)
    let baseline = await t.fingerprint()
    const routes = ROUTES.filter((r) => r.id !== 'changes')
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(pathValue, { minLength: 1, maxLength: 1 }),
        body,
        query,
        auth,
        contentType,
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        fc.boolean(),
        async (route, [param], rawBody, q, who, type, otherMethod, useOtherMethod) => {
          const value = param === 'SESSION' ? ids.session : param === 'RUN' ? ids.run : param!
          const path = route.path.replace(/\{\w+\}/, value.length ? value : 'x')
          const method = useOtherMethod ? otherMethod : route.method
          const qs = new URLSearchParams(q).toString()
          const headers: Record<string, string> = {}
          if (type) headers['content-type'] = type
          if (who === 'service') headers.authorization = `Bearer ${t.tokens.service_role}`
          else if (who === 'garbage') headers.authorization = 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'
          else if (who !== 'none') headers.authorization = `Bearer ${roleTokens[who]}`
          const response = await fetch(`${t.server.url}${path}${qs ? `?${qs}` : ''}`, {
            method,
            headers,
            body: method === 'GET' ? undefined : rawBody,
          })
          const text = await response.text()
          expect(response.status, `${method} ${path}?${qs} → ${text}`).toBeLessThan(500)
          if (response.status >= 400) {
            ErrorBody.parse(JSON.parse(text))
            expect(await t.fingerprint(), `${method} ${path} wrote despite ${response.status}`).toBe(baseline)
          } else baseline = await t.fingerprint()
        },
      ),
      { numRuns: 1500 },
    )
  })

  it('answers 2xx or 4xx to well-shaped bodies with hostile values (NUL bytes, lone surrogates, odd dates)', async () => {
    const str = fc.string({ unit: 'binary', maxLength: 30 })
    const json = fc.jsonValue({ maxDepth: 2 })
    const id = fc.oneof(fc.constant('RUN'), fc.uuid())
    const resolve = (v: string) => (v === 'RUN' ? ids.run : v)
    const requests = fc.oneof(
      fc
        .record({
          name: str,
          description: fc.option(str, { nil: undefined }),
          metadata: fc.option(fc.dictionary(str, json), { nil: undefined }),
        })
        .map((b) => ({ path: '/sessions', body: b })),
      fc
        .record({
          kind: fc.constantFrom('k', 'k.v:1'),
          params: fc.dictionary(str, json, { maxKeys: 3 }),
          idempotencyKey: fc.option(
            str.filter((x) => x.length > 0),
            { nil: undefined },
          ),
          runAt: fc.option(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            { nil: undefined },
          ),
        })
        .map((run) => ({ path: '/runs', body: { sessionId: ids.session, runs: [run] } })),
      fc
        .record({ runId: id, message: str, data: json, type: fc.constantFrom('log', 'a.b') })
        .map((e) => ({ path: '/events', body: { events: [{ ...e, runId: resolve(e.runId) }] } })),
      fc.record({ runId: id, name: str, text: str }).map((a) => ({
        path: '/artifacts',
        body: { artifacts: [{ ...a, runId: resolve(a.runId), kind: 'text' }] },
      })),
      fc
        .record({ workerId: str, runIds: fc.array(id, { maxLength: 3 }) })
        .map((h) => ({ path: '/worker/heartbeat', body: { ...h, runIds: h.runIds.map(resolve) } })),
      fc
        .record({ ids: fc.array(id, { minLength: 1, maxLength: 3 }), reason: str })
        .map((c) => ({ path: '/runs/cancel', body: { ...c, ids: c.ids.map(resolve) } })),
      fc
        .record({ before: str })
        .map((q) => ({ path: `/sessions?${new URLSearchParams(q)}`, body: undefined })),
      fc
        .record({
          name: fc.constantFrom('tpl', 'x'),
          kind: fc.constantFrom('k'),
          defaultParams: fc.dictionary(str, json, { maxKeys: 2 }),
          paramsSchema: fc.option(fc.dictionary(str, json, { maxKeys: 2 }), { nil: undefined }),
        })
        .map((b) => ({ path: '/templates', body: b })),
    )
    let baseline = await t.fingerprint()
    await fc.assert(
      fc.asyncProperty(requests, async ({ path, body }) => {
        const response = await t.request(
          path,
          body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) },
        )
        const text = await response.text()
        expect(response.status, `${path} ${JSON.stringify(body)} → ${text}`).toBeLessThan(500)
        if (response.status >= 400) {
          ErrorBody.parse(JSON.parse(text))
          expect(await t.fingerprint()).toBe(baseline)
        } else baseline = await t.fingerprint()
      }),
      { numRuns: 800 },
    )
  })
})
