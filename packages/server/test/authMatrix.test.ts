import { API_ROLES, type ApiRole, httpArtifactStore, ROUTES } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

let t: TestServer
let fileArtifactId: string
beforeAll(async () => {
  t = await startTestServer()
  // The fixture's kind is one signed-in users may enqueue (a kind without a policy is service_role-only).
  await t.sql`select ops.set_kind_policy('{"kind":"m","roles":["authenticated"]}')`
  const f = await fixture()
  const store = httpArtifactStore({ url: t.server.url, token: t.tokens.service_role })
  const stored = await store.put({
    runId: f.queued,
    name: 'matrix.bin',
    contentType: 'application/octet-stream',
    body: 'abc',
  })
  const [a] = await t.client('service_role').worker.createArtifacts({
    artifacts: [{ runId: f.queued, name: 'matrix.bin', kind: 'file', ...stored }],
  })
  fileArtifactId = a!.id
})
afterAll(() => t.teardown())

/** A fresh session with a queued run (lane A), a running one (lane B), a text artifact and a template. */
async function fixture() {
  const { sql } = t
  const [s] = await sql`select id from ops.create_session('matrix')`
  const runs = await sql`select id from ops.enqueue_runs(${s!.id}, ${sql.json([
    { kind: 'm', lane: 'A' },
    { kind: 'm', lane: 'B' },
  ])}::jsonb)`
  const [running] =
    await sql`select id, lease::text as lease from ops.claim_runs('w-matrix', array['B']::ops.lane_type[], array[1], null)`
  const [text] =
    await sql`select id from ops.create_artifacts(${sql.json([{ run_id: runs[0]!.id, name: 'note.txt', kind: 'text', text: 'hi' }])}::jsonb)`
  const name = `tpl-${Math.random().toString(36).slice(2, 8)}`
  await sql`select ops.create_template(${sql.json({ name, kind: 'm' })}::jsonb)`
  return {
    session: String(s!.id),
    queued: String(runs[0]!.id),
    running: String(running!.id),
    lease: String(running!.lease),
    text: String(text!.id),
    template: name,
  }
}

type F = Awaited<ReturnType<typeof fixture>>
const W = 'w-matrix'
/** One valid request per route. */
const CASES: Record<string, (f: F) => { method: 'GET' | 'POST'; path: string; body?: unknown }> = {
  health: () => ({ method: 'GET', path: '/health' }),
  createSession: () => ({ method: 'POST', path: '/sessions', body: { name: 'm' } }),
  listSessions: () => ({ method: 'GET', path: '/sessions?limit=5' }),
  getSession: (f) => ({ method: 'GET', path: `/sessions/${f.session}` }),
  enqueueRuns: (f) => ({
    method: 'POST',
    path: '/runs',
    body: { sessionId: f.session, runs: [{ kind: 'm' }] },
  }),
  enqueueFromTemplate: (f) => ({
    method: 'POST',
    path: '/runs/from-template',
    body: { sessionId: f.session, name: f.template },
  }),
  listRuns: (f) => ({ method: 'GET', path: `/runs?sessionId=${f.session}&status=queued&status=running` }),
  getRun: (f) => ({ method: 'GET', path: `/runs/${f.queued}` }),
  cancelRuns: (f) => ({ method: 'POST', path: '/runs/cancel', body: { ids: [f.queued] } }),
  listEvents: (f) => ({ method: 'GET', path: `/runs/${f.queued}/events?levels=info` }),
  appendEvents: (f) => ({
    method: 'POST',
    path: '/events',
    body: { events: [{ runId: f.running, message: 'm' }] },
  }),
  listArtifacts: (f) => ({ method: 'GET', path: `/runs/${f.queued}/artifacts` }),
  getArtifact: (f) => ({ method: 'GET', path: `/artifacts/${f.text}` }),
  createArtifacts: (f) => ({
    method: 'POST',
    path: '/artifacts',
    body: { artifacts: [{ runId: f.running, name: 't.txt', kind: 'text', text: 'x' }] },
  }),
  createUploadUrl: (f) => ({
    method: 'POST',
    path: '/artifacts/upload-url',
    body: { runId: f.running, name: 'u.bin' },
  }),
  createDownloadUrl: () => ({ method: 'GET', path: `/artifacts/download-url?id=${fileArtifactId}` }),
  deleteArtifactContent: (f) => ({
    method: 'POST',
    path: '/artifacts/delete-content',
    body: { storagePaths: [`${f.running}/${crypto.randomUUID()}/gone.bin`] },
  }),
  purgeArtifacts: () => ({ method: 'POST', path: '/artifacts/purge', body: {} }),
  createTemplate: () => ({ method: 'POST', path: '/templates', body: { name: 'matrix-new', kind: 'm' } }),
  listTemplates: () => ({ method: 'GET', path: '/templates?latestOnly=true' }),
  getTemplate: (f) => ({ method: 'GET', path: `/templates/${f.template}` }),
  listWorkers: () => ({ method: 'GET', path: '/workers' }),
  queueStats: () => ({ method: 'GET', path: '/stats?windowSeconds=60' }),
  setKindPolicy: () => ({
    method: 'POST',
    path: '/kind-policies',
    body: { kind: 'm', roles: ['authenticated'] },
  }),
  listKindPolicies: () => ({ method: 'GET', path: '/kind-policies' }),
  deleteKindPolicy: () => ({ method: 'POST', path: '/kind-policies/delete', body: { kind: 'nothing-here' } }),
  claimRuns: () => ({ method: 'POST', path: '/worker/claim', body: { workerId: W, lanes: { A: 1 } } }),
  heartbeat: (f) => ({
    method: 'POST',
    path: '/worker/heartbeat',
    body: { workerId: W, runs: [{ id: f.running, lease: f.lease }] },
  }),
  completeRuns: (f) => ({
    method: 'POST',
    path: '/worker/complete',
    body: { workerId: W, results: [{ id: f.running, lease: f.lease }] },
  }),
  failRuns: (f) => ({
    method: 'POST',
    path: '/worker/fail',
    body: { workerId: W, failures: [{ id: f.running, lease: f.lease, error: { type: 'E', message: 'm' } }] },
  }),
  ackCancel: (f) => ({
    method: 'POST',
    path: '/worker/ack-cancel',
    body: { workerId: W, runs: [{ id: f.running, lease: f.lease }] },
  }),
  releaseRuns: (f) => ({
    method: 'POST',
    path: '/worker/release',
    body: { workerId: W, runs: [{ id: f.running, lease: f.lease }] },
  }),
  updateProgress: (f) => ({
    method: 'POST',
    path: '/worker/progress',
    body: { workerId: W, updates: [{ id: f.running, lease: f.lease, progress: 0.5 }] },
  }),
  recoverStuckRuns: () => ({ method: 'POST', path: '/worker/recover', body: {} }),
  changes: (f) => ({ method: 'GET', path: `/changes?sessionId=${f.session}` }),
  sessionStats: (f) => ({ method: 'GET', path: `/stats/session?sessionId=${f.session}&windowSeconds=60` }),
  retryRuns: (f) => ({ method: 'POST', path: '/runs/retry', body: { ids: [f.queued] } }),
  countRuns: (f) => ({ method: 'GET', path: `/runs/count?sessionId=${f.session}&status=queued` }),
  cancelMatching: (f) => ({
    method: 'POST',
    path: '/runs/cancel-matching',
    body: { filter: { sessionId: f.session, lanes: ['A'] } },
  }),
  retryMatching: (f) => ({
    method: 'POST',
    path: '/runs/retry-matching',
    body: { filter: { sessionId: f.session } },
  }),
  laneHistory: (f) => ({ method: 'GET', path: `/stats/lane-history?sessionId=${f.session}&buckets=10` }),
}

/** What the migrations grant, written out by hand: the test compares the API against it. */
const ANON = [
  'health',
  'listSessions',
  'getSession',
  'listRuns',
  'getRun',
  'changes',
  'sessionStats',
  'countRuns',
  'laneHistory',
]
const AUTHENTICATED = [
  ...ANON,
  'createSession',
  'enqueueRuns',
  'enqueueFromTemplate',
  'cancelRuns',
  'listEvents',
  'listArtifacts',
  'getArtifact',
  'listTemplates',
  'getTemplate',
  'listWorkers',
  'queueStats',
  'createDownloadUrl',
  'retryRuns',
  'cancelMatching',
  'retryMatching',
]
const EXPECTED: Record<ApiRole, Set<string>> = {
  anon: new Set(ANON),
  authenticated: new Set(AUTHENTICATED),
  service_role: new Set(ROUTES.map((r) => r.id)),
}

describe('auth matrix: every role against every endpoint', () => {
  it('has a case for every route', () => {
    expect(Object.keys(CASES).sort()).toEqual(ROUTES.map((r) => r.id).sort())
  })

  for (const role of API_ROLES) {
    it(`${role}: allowed exactly where the grants and RLS allow, and a refusal writes nothing`, async () => {
      const observed: string[] = []
      for (const route of ROUTES) {
        const f = await fixture()
        const c = CASES[route.id]!(f)
        const before = await t.fingerprint()
        const response = await t.request(c.path, {
          method: c.method,
          role,
          body: c.body === undefined ? undefined : JSON.stringify(c.body),
        })
        if (route.id === 'changes') await response.body?.cancel()
        const body = route.id === 'changes' || response.status < 400 ? undefined : await response.json()
        if (EXPECTED[role].has(route.id)) {
          expect({ route: route.id, status: response.status, body }).toMatchObject({
            route: route.id,
            status: route.status,
          })
          observed.push(route.id)
        } else {
          expect({ route: route.id, status: response.status, code: body?.error?.code }).toEqual({
            route: route.id,
            status: 403,
            code: 'forbidden',
          })
          expect(await t.fingerprint()).toBe(before)
        }
      }
      // The route table's documented roles agree with what the database allowed.
      expect(ROUTES.filter((r) => r.roles.includes(role)).map((r) => r.id)).toEqual(observed)
    })
  }
})
