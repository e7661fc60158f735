import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
}

/** What the browser app reads from `/ops-config.json` to reach the API. */
export interface RunboardConfig {
  /** The executor API's base URL (this same origin in dev). */
  apiUrl: string
  /** A bearer token for the API. In dev: a service_role token minted by the dev server. */
  token: string
  mode: 'dev'
}

export interface RunboardServer {
  readonly url: string
  readonly port: number
  readonly http: Server
  /** Routes API requests to this listener once it is set (503 before). */
  setApi(listener: RequestListener): void
  setConfig(config: RunboardConfig): void
  close(): Promise<void>
}

/** Whether a request comes from this machine and names it as a loopback host. */
export function isLoopbackRequest(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? ''
  const fromLoopback = /^(127\.|::1$|::ffff:127\.)/.test(address)
  const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '')
  const namesLoopback =
    host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  return fromLoopback && namesLoopback
}

/**
 * One origin for the whole dev control room: the built Runboard app (static files), its config at
 * `/ops-config.json`, and every other path handed to the API server's own request listener (no
 * proxy hop: the same Node request and response objects, so SSE streams and signed artifact URLs
 * work unchanged and the browser needs no CORS).
 */
export async function startRunboardServer(options: {
  port: number
  host: string
  /** The built app (examples/runboard/dist), or undefined to serve the API only. */
  appDir: string | undefined
}): Promise<RunboardServer> {
  let api: RequestListener | undefined
  let config: RunboardConfig | undefined
  const appDir = options.appDir ? resolve(options.appDir) : undefined

  async function serveStatic(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (!appDir || (req.method !== 'GET' && req.method !== 'HEAD')) return false
    const rel = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1))
    const file = normalize(join(appDir, rel))
    if (!file.startsWith(appDir + sep)) return false
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(file)
    } catch {
      return false
    }
    if (!info.isFile()) return false
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      // Vite fingerprints everything under assets/; the page itself must always be fresh.
      'cache-control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    })
    if (req.method === 'HEAD') res.end()
    else createReadStream(file).pipe(res)
    return true
  }

  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (path === '/ops-config.json') {
      // The config holds a service_role token: only for this machine. A request from elsewhere
      // (with --host 0.0.0.0) or through another name (DNS rebinding: evil.example → 127.0.0.1) is
      // refused.
      if (!isLoopbackRequest(req)) {
        res.writeHead(403, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        res.end(
          JSON.stringify({
            error: {
              code: 'forbidden',
              message: 'the dev config is served to this machine only (http://localhost)',
            },
          }),
        )
        return
      }
      res.writeHead(config ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(config ?? { error: { code: 'unavailable', message: 'starting' } }))
      return
    }
    serveStatic(req, res, path)
      .then((served) => {
        if (served) return
        if (path === '/' && !appDir) {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
          res.end(
            'The Runboard app is not built: run `pnpm start` at the repository root (or build examples/runboard).\n',
          )
          return
        }
        if (!api) {
          res.writeHead(503, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { code: 'unavailable', message: 'the API is starting' } }))
          return
        }
        api(req, res)
      })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(String(err))
      })
  })
  await new Promise<void>((resolveListen, reject) => {
    http.once('error', reject)
    http.listen(options.port, options.host, () => {
      http.off('error', reject)
      resolveListen()
    })
  })
  const port = (http.address() as AddressInfo).port
  const host = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    http,
    setApi(listener) {
      api = listener
    },
    setConfig(c) {
      config = c
    },
    async close() {
      const closed = new Promise<void>((r) => http.close(() => r()))
      http.closeAllConnections()
      await closed
    },
  }
}
