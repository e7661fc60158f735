import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Worker } from './createWorker'

/** A running health server. */
export interface HealthServer {
  readonly port: number
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves, for one worker:
 * - `/health/live` (liveness): 200 while the worker's loops go round, else 503 — point an
 *   orchestrator's restart probe here; a database outage does not fail it, so it does not restart a
 *   whole fleet;
 * - `/health/ready` (readiness): 200 when also the database answers and the worker is running;
 * - `/health` (both: 200 when live and ready), each with a JSON body saying which part failed;
 * - `/metrics` (Prometheus text format, prom-client).
 *
 * @example
 * const health = await startHealthServer(worker, { port: 9464 })
 */
export async function startHealthServer(
  worker: Worker,
  options: { port?: number; host?: string } = {},
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const probe =
      path === '/health' || path === '/healthz'
        ? 'ok'
        : path === '/health/live' || path === '/livez'
          ? 'live'
          : path === '/health/ready' || path === '/readyz'
            ? 'ready'
            : undefined
    if (probe) {
      worker.health().then(
        (h) => {
          res.writeHead(h[probe] ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h))
        },
        (err) => {
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok: false, error: String(err) }))
        },
      )
      return
    }
    if (path === '/metrics') {
      worker.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': worker.metrics.registry.contentType }).end(text),
        (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
      )
      return
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /health, /health/live, /health/ready or /metrics\n')
  })
  const host = options.host ?? '0.0.0.0'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 9464, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
