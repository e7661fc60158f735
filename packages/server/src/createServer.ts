import { createHmac } from 'node:crypto'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ArtifactContentStore, OpsError } from '@ops-control-room/core'
import { createExecutorHandler, type ExecutorHandler, migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { type AlertChannel, type AlertNotifier, type AlertRule, createAlertNotifier } from './alertNotifier'
import {
  CONTENT_PREFIX,
  createFilesystemArtifactStore,
  type FilesystemArtifactStore,
} from './filesystemArtifactStore'
import { toWebRequest, writeWebResponse } from './nodeAdapter'
import { createServerMetrics, type ServerMetrics } from './serverMetrics'
import { startArtifactSweeper } from './sweeper'

export interface ServerOptions {
  /** PostgreSQL the executor runs on (its user must be a member of anon, authenticated, service_role). */
  databaseUrl: string
  /** The HS256 secret tokens are signed with. */
  jwtSecret: string
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
  /** Logs unexpected errors. Default console.error. */
  onError?: (error: OpsError | unknown, context: string) => void
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
  if (options.migrate) await migrate({ databaseUrl: options.databaseUrl })
  const onError =
    options.onError ?? ((error: unknown, context: string) => console.error(`[ops-server] ${context}:`, error))
  const host = options.host ?? '127.0.0.1'
  let baseUrl = options.publicUrl?.replace(/\/+$/, '') ?? ''

  const sql = postgres(options.databaseUrl, {
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
    artifactStore,
    bodyLimit: options.bodyLimit,
    maxUploadBytes: options.maxUploadBytes,
    changes: options.liveChanges === false ? false : { heartbeatMs: options.heartbeatMs },
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

  const server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (req.method === 'GET' && metrics.handle(res, path)) return
    const started = performance.now()
    res.once('finish', () =>
      metrics.observeRequest(req.method ?? 'GET', path, res.statusCode, (performance.now() - started) / 1000),
    )
    const extra = options.handlers?.find((h) => h.path === path)?.handler
    const served = extra
      ? extra(toWebRequest(req, res, baseUrl)).then((response) => writeWebResponse(res, response, req))
      : fsStore && path.startsWith(CONTENT_PREFIX)
        ? fsStore.handleRequest(
            req,
            res,
            path.slice(CONTENT_PREFIX.length),
            new URL(req.url ?? '/', 'http://x').searchParams,
          )
        : handler(toWebRequest(req, res, baseUrl)).then((response) => writeWebResponse(res, response, req))
    served.catch((err) => {
      onError(err, `${req.method} ${req.url}`)
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }))
      } else res.destroy()
    })
  })
  // Uploads of large artifacts may take a while; the default request timeout would cut them off.
  server.requestTimeout = 0
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
