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
 * Serves `/livez` (200 while the process answers), `/health` (200 when the claim loop is alive and the database answers, else 503, with a JSON
 * body saying which) and `/metrics` (Prometheus text format, prom-client) for one worker.
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
    // Liveness: the process answers. It does not ask the database, so an outage does not get the
    // whole fleet restarted; readiness (/health) does.
    if (path === '/livez') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: true, state: worker.state }))
      return
    }
    if (path === '/health' || path === '/healthz') {
      worker.health().then(
        (h) => {
          res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h))
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
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /livez, /health or /metrics\n')
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
