import { createHmac } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener, type Http2Bindings, type HttpBindings } from '@hono/node-server'
import type { ArtifactContentStore, OpsError } from '@ops-control-room/core'
import {
  createExecutorHandler,
  type ExecutorHandler,
  executorDatabaseUrl,
  migrate,
} from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { type AlertChannel, type AlertNotifier, type AlertRule, createAlertNotifier } from './alertNotifier'
import { type CompressionOptions, compressResponse } from './compressResponse'
import {
  CONTENT_PREFIX,
  createFilesystemArtifactStore,
  type FilesystemArtifactStore,
} from './filesystemArtifactStore'
import { createRateLimiter, type RateLimitOptions } from './rateLimiter'
import { createServerMetrics, type ServerMetrics } from './serverMetrics'
import { startArtifactSweeper } from './sweeper'

export interface ServerOptions {
  /** PostgreSQL the executor runs on (its user must be a member of anon, authenticated, service_role). */
  databaseUrl: string
  /** The HS256 secret tokens are signed with: at least 32 bytes. Tokens must carry `exp`. */
  jwtSecret: string
  /** Accept only tokens from this issuer (`iss`), when given. */
  jwtIssuer?: string
  /** Accept only tokens for this audience (`aud`), when given (Supabase: `authenticated`). */
  jwtAudience?: string
  /** Where the filesystem artifact store keeps content. Omit with `artifactStore`, or for no artifacts. */
  artifactsDir?: string
  /** Another artifact store (e.g. `supabaseStorageStore`) instead of the filesystem one. */
  artifactStore?: ArtifactContentStore
  /** TCP port; 0 picks a free one. Default 8787. */
  port?: number
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string
  /** The URL clients reach this server at (for signed URLs). Default http://<host>:<port>. */
  publicUrl?: string
  /** HMAC key for signed artifact URLs. Default: derived from jwtSecret. */
  signingSecret?: string
  /** Largest JSON body, in bytes. Default 8 MiB. */
  bodyLimit?: number
  /** Largest artifact upload, in bytes. Default 1 GiB. */
  maxUploadBytes?: number
  /** Apply the migrations before serving. Default false. */
  migrate?: boolean
  /**
   * Serve through the executor's dedicated login role (`ops_executor` unless named) instead of the
   * user of `databaseUrl`: it holds no privilege and can only become anon, authenticated or
   * service_role. With `migrate`, `databaseUrl`'s user creates the role (or sets its password)
   * first and is used for nothing else; without, the role must exist (`migrate({ executorRole })`).
   */
  executorRole?: { name?: string; password: string }
  /** Connection pool size. Default 20. */
  maxConnections?: number
  /** Artifact retention sweep interval. Default one hour; 0 disables it. */
  sweepIntervalMs?: number
  /** SSE heartbeat interval. Default 15 s. */
  heartbeatMs?: number
  /** Serve the live change stream at /changes. Default true (clients poll without it). */
  liveChanges?: boolean
  /** The window of /metrics' finished-run, error-rate and recovery figures, in seconds. Default 300. */
  metricsWindowSeconds?: number
  /**
   * The built-in notifier (for deployments without Prometheus): the plan's alerts to Slack,
   * PagerDuty or email, evaluated every `intervalMs` (default 30 s). Off when omitted.
   */
  alerts?: { channels: readonly AlertChannel[]; intervalMs?: number; rules?: readonly AlertRule[] }
  /**
   * Per-address and per-token request limits (429 with Retry-After beyond). On by default (100/s,
   * burst 200 per address; 200/s, burst 400 per token); `false` turns them off.
   */
  rateLimit?: RateLimitOptions | false
  /** The request line and headers must arrive within this many ms. Default 20 000. */
  headersTimeoutMs?: number
  /** A JSON body must arrive whole within this many ms (408 beyond). Default 30 000. */
  bodyTimeoutMs?: number
  /**
   * A connection with no traffic either way for this long is closed (covers uploads and downloads
   * that stall). Default 120 000; never less than twice the SSE heartbeat.
   */
  idleTimeoutMs?: number
  /** Open change streams: in all, per token, and unread bytes per client before it is dropped. */
  changeStreams?: { maxStreams?: number; maxStreamsPerToken?: number; clientBufferBytes?: number }
  /** Logs unexpected errors. Default console.error. */
  onError?: (error: OpsError | unknown, context: string) => void
  /**
   * Compress JSON and text responses (br, gzip or deflate, as the client accepts) from 1 KiB up;
   * never the change stream. Default on; `false` turns it off.
   */
  compression?: CompressionOptions | false
  /** More web-standard handlers, each served at its exact path (e.g. a GitHub webhook receiver). */
  handlers?: readonly { path: string; handler: (request: Request) => Promise<Response> }[]
}

/** A running server. */
export interface OpsServer {
  /** Base URL of the executor API (also of signed artifact URLs). */
  readonly url: string
  readonly port: number
  readonly handler: ExecutorHandler
  readonly artifactStore: ArtifactContentStore | undefined
  readonly http: Server
  /** Prometheus metrics (served at /metrics): API latency and `ops.queue_stats`. */
  readonly metrics: ServerMetrics
  /** The built-in alert notifier, when `alerts` was given. */
  readonly alerts: AlertNotifier | undefined
  /** Purges expired artifacts now (the sweeper does so every sweepIntervalMs). */
  purgeExpiredArtifacts(): Promise<number>
  /** Stops accepting requests, ends open streams, then closes the pool. */
  close(): Promise<void>
}

/**
 * Starts the self-hosted control plane on Node: the executor API (the same handler as the Supabase
 * Edge Function), the live change stream at `/changes`, signed artifact uploads and downloads at
 * `/artifact-content/…`, the artifact retention sweeper, `/livez` and Prometheus `/metrics`.
 *
 * @example
 * const server = await createServer({
 *   databaseUrl: process.env.DATABASE_URL!,
 *   jwtSecret: process.env.OPS_JWT_SECRET!,
 *   artifactsDir: './.ops-data/artifacts',
 *   port: 8787,
 * })
 * console.log(`executor API on ${server.url}`)
 */
export async function createServer(options: ServerOptions): Promise<OpsServer> {
  if (!options.databaseUrl || !options.jwtSecret) {
    throw new TypeError('createServer needs { databaseUrl, jwtSecret }')
  }
  // Checked before anything is migrated: a bad role or URL changes nothing.
  const connectUrl = options.executorRole
    ? executorDatabaseUrl(options.databaseUrl, options.executorRole)
    : options.databaseUrl
  if (options.migrate) {
    await migrate({ databaseUrl: options.databaseUrl, executorRole: options.executorRole })
  }
  const onError =
    options.onError ?? ((error: unknown, context: string) => console.error(`[ops-server] ${context}:`, error))
  const host = options.host ?? '127.0.0.1'
  let baseUrl = options.publicUrl?.replace(/\/+$/, '') ?? ''

  const sql = postgres(connectUrl, {
    max: options.maxConnections ?? 20,
    onnotice: () => {},
    connection: { application_name: 'ops-control-room server' },
    transform: { undefined: null },
  })
  const signingSecret =
    options.signingSecret ??
    createHmac('sha256', options.jwtSecret).update('ops-control-room artifact urls').digest('hex')
  const fsStore: FilesystemArtifactStore | undefined =
    !options.artifactStore && options.artifactsDir
      ? createFilesystemArtifactStore({
          root: options.artifactsDir,
          publicUrl: () => baseUrl,
          signingSecret,
          maxUploadBytes: options.maxUploadBytes,
        })
      : undefined
  const artifactStore = options.artifactStore ?? fsStore

  const handler = createExecutorHandler({
    sql,
    jwtSecret: options.jwtSecret,
    issuer: options.jwtIssuer,
    audience: options.jwtAudience,
    artifactStore,
    bodyLimit: options.bodyLimit,
    bodyTimeoutMs: options.bodyTimeoutMs,
    maxUploadBytes: options.maxUploadBytes,
    changes:
      options.liveChanges === false ? false : { heartbeatMs: options.heartbeatMs, ...options.changeStreams },
    onError: (error, request) => onError(error, `${request.method} ${request.url}`),
  })

  const metrics = createServerMetrics({ sql, windowSeconds: options.metricsWindowSeconds })
  const alerts =
    options.alerts && options.alerts.channels.length > 0
      ? createAlertNotifier({
          stats: () => metrics.stats(),
          apiP95Seconds: () => metrics.apiP95Seconds(),
          channels: options.alerts.channels,
          rules: options.alerts.rules,
          onError: (err, context) => onError(err, `alerts: ${context}`),
        })
      : undefined

  // The web handler on node:http through @hono/node-server: abort signals, backpressure, repeated
  // Set-Cookie headers, unread bodies drained or the connection closed, and request targets such as
  // `//evil.example/x` kept as paths of this host.
  const listener = getRequestListener(
    async (request: Request, env: HttpBindings | Http2Bindings) => {
      // Extra handlers (a GitHub webhook receiver, …) at their exact paths; the executor API elsewhere.
      const extra = options.handlers?.find((h) => h.path === new URL(request.url).pathname)?.handler
      const raw = await (extra ?? handler)(request)
      const response =
        options.compression === false ? raw : await compressResponse(request, raw, options.compression)
      // Answered before the body was read (401, 403, 413): the connection cannot carry another
      // request, so say so rather than let the client reuse a socket that is about to close.
      if (
        !(env.incoming as IncomingMessage).complete &&
        request.method !== 'GET' &&
        request.method !== 'HEAD'
      ) {
        const headers = new Headers(response.headers)
        headers.set('connection', 'close')
        return new Response(response.body, { status: response.status, headers })
      }
      return response
    },
    {
      overrideGlobalObjects: false,
      errorHandler: (err) => {
        onError(err, 'request')
        return new Response(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }), {
          status: 500,
          headers: { 'content-type': 'application/json' },
        })
      },
    },
  )
  const limiter = options.rateLimit === false ? undefined : createRateLimiter(options.rateLimit)

  // Timeouts are checked every second (Node's default is every 30 s, which would let a slow client
  // hold a connection half a minute past headersTimeout).
  const server = createHttpServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (limiter) {
      const auth = req.headers.authorization
      const wait = limiter.check(req.socket.remoteAddress ?? '', typeof auth === 'string' ? auth : undefined)
      if (wait > 0) {
        const seconds = Math.max(1, Math.ceil(wait))
        res.writeHead(429, {
          'content-type': 'application/json; charset=utf-8',
          'retry-after': String(seconds),
          // The body is left unread: the connection cannot carry another request.
          connection: 'close',
        })
        res.end(
          JSON.stringify({
            error: {
              code: 'rate_limited',
              message: `too many requests: retry in ${seconds} s`,
              details: { retryAfterSeconds: seconds },
            },
          }),
        )
        return
      }
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (req.method === 'GET' && metrics.handle(res, path)) return
    const started = performance.now()
    res.once('finish', () =>
      metrics.observeRequest(req.method ?? 'GET', path, res.statusCode, (performance.now() - started) / 1000),
    )
    if (fsStore && path.startsWith(CONTENT_PREFIX)) {
      fsStore
        .handleRequest(
          req,
          res,
          path.slice(CONTENT_PREFIX.length),
          new URL(req.url ?? '/', 'http://x').searchParams,
        )
        .catch((err) => {
          onError(err, `${req.method} ${req.url}`)
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'application/json' })
            res.end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }))
          } else res.destroy()
        })
      return
    }
    void listener(req, res)
  })
  // Uploads of large artifacts may take a while, so there is no limit on a whole request; a stalled
  // one is cut by the idle timeout, a trickled JSON body by the executor's body timeout, and slow
  // headers by headersTimeout.
  server.requestTimeout = 0
  server.headersTimeout = options.headersTimeoutMs ?? 20_000
  server.timeout = Math.max(options.idleTimeoutMs ?? 120_000, 2 * (options.heartbeatMs ?? 15_000))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 8787, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  if (!baseUrl) baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  const sweeper = startArtifactSweeper({
    sql,
    store: artifactStore,
    intervalMs: options.sweepIntervalMs === 0 ? 2 ** 31 - 1 : options.sweepIntervalMs,
    onError: (err) => onError(err, 'artifact sweep'),
  })

  alerts?.start(options.alerts?.intervalMs)

  let closing: Promise<void> | undefined
  return {
    url: baseUrl,
    port,
    handler,
    artifactStore,
    http: server,
    metrics,
    alerts,
    purgeExpiredArtifacts: () => sweeper.purge(),
    close() {
      closing ??= (async () => {
        await sweeper.stop()
        await alerts?.stop()
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        // Open SSE streams would keep the server open forever: end them.
        await handler.close()
        server.closeAllConnections()
        await closed
        await sql.end({ timeout: 5 })
      })()
      return closing
    },
  }
}
