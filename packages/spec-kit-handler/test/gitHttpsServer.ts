import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

/**
 * A real git server over HTTPS: Node's https module in front of git's own `git-http-backend` (the
 * CGI program GitHub-like servers wrap), with a self-signed certificate made by `openssl` and HTTP
 * Basic authentication that accepts one password. Pushes are enabled.
 */
export async function startGitHttpsServer(options: { root: string; dir: string; password: string }) {
  const key = join(options.dir, 'server.key')
  const cert = join(options.dir, 'server.crt')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  )
  const backend = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim()
  const requests: { method: string; path: string; status: number; user?: string }[] = []
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ')
    const [user, ...rest] = Buffer.from(encoded ?? '', 'base64')
      .toString()
      .split(':')
    if (scheme !== 'Basic' || rest.join(':') !== options.password) {
      requests.push({ method: req.method ?? '', path: url.pathname, status: 401 })
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' })
      res.end('authentication required\n')
      return
    }
    const cgi = spawn(join(backend, 'git-http-backend'), [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: options.root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        // Smart HTTP pushes need an authenticated user; receive-pack is then allowed.
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_HTTP_MAX_REQUEST_BUFFER: '10M',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    req.pipe(cgi.stdin)
    let head = Buffer.alloc(0)
    let started = false
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk)
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      started = true
      const headers: Record<string, string> = {}
      let status = 200
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const at = line.indexOf(':')
        const name = line.slice(0, at).trim().toLowerCase()
        const value = line.slice(at + 1).trim()
        if (name === 'status') status = Number.parseInt(value, 10)
        else headers[name] = value
      }
      requests.push({ method: req.method ?? '', path: url.pathname, status, user })
      res.writeHead(status, headers)
      res.write(head.subarray(end + 4))
    })
    cgi.on('close', () => {
      if (!started) {
        res.writeHead(500)
        res.end('git-http-backend failed\n')
      } else res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://127.0.0.1:${port}`,
    /** The server's certificate: give it to git as `GIT_SSL_CAINFO`. */
    caFile: cert,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
