import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServerMetrics } from '../src/serverMetrics'
import { startTestServer, type TestServer } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t.teardown())

/** One sample of a metric in Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

describe('/livez, /metrics and GET /stats', () => {
  it('answers /livez without a token', async () => {
    const r = await fetch(`${t.server.url}/livez`)
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({ ok: true })
  })

  it('reports the queue from ops.queue_stats and API latency by route pattern', async () => {
    const service = t.client('service_role')
    const session = await service.sessions.create({ name: 'metrics' })
    await service.runs.enqueue({
      sessionId: session.id,
      runs: [
        { kind: 'lint', lane: 'B' },
        { kind: 'lint', lane: 'B' },
      ],
    })
    const [claimed] = await service.worker.claim({ workerId: 'metrics-w', lanes: { B: 1 }, kinds: ['lint'] })
    await service.worker.fail({
      workerId: 'metrics-w',
      failures: [
        {
          id: claimed!.id,
          lease: claimed!.lease as string,
          error: { type: 'x', message: 'no' },
          retry: false,
        },
      ],
    })
    await service.runs.get(claimed!.id)

    const r = await fetch(`${t.server.url}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await r.text()
    expect(sample(text, 'ops_queue_queued', { lane: 'B', kind: 'lint' })).toBe(1)
    expect(sample(text, 'ops_queue_queued_total')).toBe(1)
    expect(sample(text, 'ops_runs_finished_window', { lane: 'B', kind: 'lint', status: 'failed' })).toBe(1)
    expect(sample(text, 'ops_runs_error_rate')).toBe(1)
    expect(sample(text, 'ops_stats_window_seconds')).toBe(300)
    expect(sample(text, 'ops_stats_up')).toBe(1)
    // Routes are labelled by pattern: one series for every run id.
    expect(
      sample(text, 'ops_api_requests_total', { method: 'GET', route: '/runs/{id}', status: '200' }),
    ).toBe(1)
    expect(text).not.toContain(claimed!.id)
    expect(
      sample(text, 'ops_api_request_duration_seconds_count', { method: 'POST', route: '/worker/claim' }),
    ).toBe(1)
  })

  it('serves GET /stats to signed-in users and the service role, not to anon', async () => {
    const stats = await t.client('service_role').stats({ windowSeconds: 60 })
    expect(stats).toMatchObject({ windowSeconds: 60, queued: 1, failed: 1, errorRate: 1 })
    await expect(t.client('authenticated').stats()).resolves.toMatchObject({ windowSeconds: 300 })
    await expect(t.client('anon').stats()).rejects.toMatchObject({ code: 'forbidden' })
    const bad = await t.request('/stats?windowSeconds=0')
    expect(bad.status).toBe(400)
  })

  it('answers 503 from /metrics while the database is unreachable, and /livez still 200', async () => {
    const sql = postgres('postgres://nobody@127.0.0.1:1/none', {
      max: 1,
      connect_timeout: 2,
      onnotice: () => {},
    })
    const metrics = createServerMetrics({ sql })
    const server = createServer((req, res) => {
      if (!metrics.handle(res, req.url ?? '/')) res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const r = await fetch(`${base}/metrics`)
      expect(r.status).toBe(503)
      expect(await r.text()).toMatch(/^ops.queue_stats failed/)
      expect((await fetch(`${base}/livez`)).status).toBe(200)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await sql.end()
    }
  })
})
