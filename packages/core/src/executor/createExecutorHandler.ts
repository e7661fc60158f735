import postgres from 'postgres'
import type { Backend } from '../backend'
import type * as C from '../contract'
import {
  ForbiddenError,
  NotFoundError,
  type OpsError,
  RateLimitedError,
  UnavailableError,
  ValidationError,
} from '../errors'
import { toOpsError } from '../postgres/pgErrors'
import { postgresBackend } from '../postgres/postgresBackend'
import { toArtifact } from '../rows'
import { parseInput } from '../validate'
import { createOpsClient } from '../validatingClient'
import type { ArtifactContentStore } from './artifactContentStore'
import { type Caller, createTokenVerifier, type JwtVerification } from './auth'
import { type ChangeHub, createChangeHub } from './changeStream'
import { queryToInput, readJsonBody } from './requestInput'
import { clientFacing, errorResponse, jsonResponse } from './respond'
import { matchRoute, type RouteDef } from './routes'

export interface ExecutorHandlerOptions extends JwtVerification {
  /** A postgres.js client (not a transaction): each request runs in a transaction of its own on it. */
  sql?: postgres.Sql
  /** Or a connection URL: the handler opens (and `close()` ends) its own pool. */
  databaseUrl?: string
  /** Pool size with `databaseUrl`. Default 10. */
  max?: number
  /** Prepared statements with `databaseUrl` (turn off behind Supabase's transaction pooler). Default true. */
  prepare?: boolean
  /** Where file artifacts' content goes (signed upload and download URLs). Without it, those routes answer 501. */
  artifactStore?: ArtifactContentStore
  /**
   * Path prefixes to strip before routing. Default: `/functions/v1/ops-executor` and `/ops-executor`
   * (how Supabase's gateway and its Edge Runtime present the function's paths), so the same handler
   * serves `/functions/v1/ops-executor/runs`, `/ops-executor/runs` and `/runs`.
   */
  basePath?: string | readonly string[]
  /** Largest JSON body accepted, in bytes (413 beyond). Default 8 MiB. */
  bodyLimit?: number
  /** A JSON body must have arrived whole within this many ms (408 beyond). Default 30 000. */
  bodyTimeoutMs?: number
  /** Largest artifact upload a signed URL allows, in bytes. Default 1 GiB. */
  maxUploadBytes?: number
  /** CORS: the allowed origin, or false for no CORS headers. Default '*' (tokens, not cookies, authorise). */
  corsOrigin?: string | false
  /**
   * The live change stream (`GET /changes`): heartbeat interval, replay buffer, how many bytes one
   * client may leave unread before it is dropped (it resumes with Last-Event-ID), and how many streams
   * may be open in all and per token (429 beyond). `false` disables it.
   */
  changes?:
    | {
        heartbeatMs?: number
        bufferSize?: number
        clientBufferBytes?: number
        maxStreams?: number
        maxStreamsPerToken?: number
      }
    | false
  /** Called with unexpected (5xx) errors, for logging. Default: console.error. */
  onError?: (error: OpsError, request: Request) => void
}

/** The executor API: a web-standard request handler, plus `close()` for what it opened. */
export interface ExecutorHandler {
  (request: Request): Promise<Response>
  /** Ends the change stream's subscription and, with `databaseUrl`, the pool. */
  close(): Promise<void>
}

const VERSION = '0.1.0'
const DEFAULT_PREFIXES = ['/functions/v1/ops-executor', '/ops-executor']

type Tx = postgres.TransactionSql
interface Ctx {
  input: Record<string, unknown>
  backend: Backend
  tx: Tx
  caller: Caller
  request: Request
}

/**
 * Creates the executor API handler, `(Request) => Promise<Response>`, for Deno (the Supabase Edge
 * Function), Node (`@ops-control-room/server`) or any web-standard runtime. Every request is
 * authenticated (Supabase-style JWT), validated with the contract, and run in one transaction as the
 * caller's database role with `request.jwt.claims` set, as PostgREST does: the database's grants and
 * RLS policies decide what each role may do. A failed request rolls back: it writes nothing.
 *
 * @example
 * import postgres from 'postgres'
 * import { createExecutorHandler } from '@ops-control-room/core/postgres'
 *
 * const handler = createExecutorHandler({
 *   sql: postgres(Deno.env.get('SUPABASE_DB_URL')!, { prepare: false }),
 *   jwtSecret: Deno.env.get('OPS_JWT_SECRET'),
 * })
 * Deno.serve(handler)
 */
export function createExecutorHandler(options: ExecutorHandlerOptions): ExecutorHandler {
  if (!options.sql && !options.databaseUrl) {
    throw new TypeError('createExecutorHandler needs { sql } (a postgres.js client) or { databaseUrl }')
  }
  const verify = createTokenVerifier(options)
  const owned = !options.sql
  const sql =
    options.sql ??
    postgres(options.databaseUrl as string, {
      max: options.max ?? 10,
      prepare: options.prepare ?? true,
      onnotice: () => {},
      connection: { application_name: 'ops-control-room executor' },
      transform: { undefined: null },
    })
  const prefixes = (
    options.basePath === undefined
      ? DEFAULT_PREFIXES
      : typeof options.basePath === 'string'
        ? [options.basePath]
        : [...options.basePath]
  ).map((p) => p.replace(/\/+$/, ''))
  const bodyLimit = options.bodyLimit ?? 8 * 1024 * 1024
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000
  const streamLimits = options.changes === false ? undefined : options.changes
  const maxStreams = streamLimits?.maxStreams ?? 1000
  const maxStreamsPerToken = streamLimits?.maxStreamsPerToken ?? 100
  // Open streams per token (the raw bearer token: every holder of one token shares its cap).
  const streamsOf = new Map<string, number>()
  let openStreams = 0
  const maxUploadBytes = options.maxUploadBytes ?? 1024 * 1024 * 1024
  const store = options.artifactStore
  const cors = options.corsOrigin === undefined ? '*' : options.corsOrigin
  const corsHeaders: Record<string, string> = cors
    ? {
        'access-control-allow-origin': cors,
        'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type, last-event-id',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-expose-headers': 'content-type',
      }
    : {}
  const onError =
    options.onError ??
    ((error: OpsError, request: Request) =>
      console.error(`[ops-executor] ${request.method} ${request.url}:`, error, error.cause))

  // The change stream listens on one connection of the root client, shared by every stream.
  const rootBackend = postgresBackend({ sql })
  const hub: ChangeHub | undefined =
    options.changes === false
      ? undefined
      : createChangeHub({ subscribe: (l) => rootBackend.subscribe(l), ...options.changes })

  function stripPrefix(pathname: string): string {
    for (const p of prefixes) {
      if (p && (pathname === p || pathname.startsWith(`${p}/`))) return pathname.slice(p.length) || '/'
    }
    return pathname
  }

  const needStore = (): ArtifactContentStore => {
    if (!store) {
      throw new UnavailableError('this deployment has no artifact store configured', {
        details: { reason: 'no_artifact_store' },
      })
    }
    return store
  }

  async function may(tx: Tx, fn: string): Promise<void> {
    const [row] = await tx`select has_function_privilege(${fn}, 'execute') as ok`
    if (!row?.ok) throw new ForbiddenError(`permission denied for function ${fn.replace(/\(.*$/, '')}`)
  }

  /** A backend whose enqueue first records that template params were validated (by the client). */
  const paramsChecked = (backend: Backend, tx: Tx): Backend => ({
    ...backend,
    enqueueRuns: async (input) => {
      await tx`select set_config('ops.template_params_checked', 'on', true)`
      return backend.enqueueRuns(input)
    },
  })

  const found = <T>(value: T | null, what: string): T => {
    if (value === null) throw new NotFoundError(`${what} does not exist`)
    return value
  }

  /** One function per route; each runs inside the caller's transaction. */
  const operations: Record<string, (ctx: Ctx) => Promise<unknown>> = {
    createSession: ({ backend, input }) => backend.createSession(input as never),
    listSessions: ({ backend, input }) => backend.listSessions(input as never),
    getSession: async ({ backend, input }) =>
      found(await backend.getSession(input.id as string), `session ${input.id}`),
    // Both go through the client, which checks template params against their schemas, then tell the
    // database so for this transaction: it refuses template runs with a schema otherwise.
    enqueueRuns: ({ backend, input, tx }) =>
      createOpsClient({ backend: paramsChecked(backend, tx) }).runs.enqueue(input as C.EnqueueRunsInput),
    enqueueFromTemplate: ({ backend, input, tx }) =>
      createOpsClient({ backend: paramsChecked(backend, tx) }).templates.enqueue(
        input as C.EnqueueFromTemplateInput,
      ),
    listRuns: ({ backend, input }) => backend.listRuns(input as never),
    getRun: async ({ backend, input }) => found(await backend.getRun(input.id as string), `run ${input.id}`),
    cancelRuns: ({ backend, input }) => backend.cancelRuns(input as never),
    // Runboard (issue 17) routes.
    retryRuns: ({ backend, input }) => backend.retryRuns(input as never),
    sessionStats: ({ backend, input }) => backend.sessionStats(input as never),
    countRuns: ({ backend, input }) => backend.countRuns(input as never),
    cancelMatching: ({ backend, input }) => backend.cancelMatching(input as never),
    retryMatching: ({ backend, input }) => backend.retryMatching(input as never),
    laneHistory: ({ backend, input }) => backend.laneHistory(input as never),
    listEvents: ({ backend, input }) => backend.listEvents(input as never),
    appendEvents: async ({ backend, input }) => ({ count: await backend.appendEvents(input as never) }),
    listArtifacts: ({ backend, input }) => backend.listArtifacts(input as never),
    getArtifact: async ({ backend, input }) =>
      found(await backend.getArtifact(input.id as string), `artifact ${input.id}`),
    createArtifacts: async ({ backend, input }) => {
      // The database decides first (grants, run exists), so nobody can probe the store.
      const artifacts = await backend.createArtifacts(input as never)
      if (store) {
        for (const a of artifacts) {
          if (a.kind !== 'file' || a.storagePath === null) continue
          if (!a.storagePath.startsWith(`${a.runId}/`)) {
            throw new ValidationError(`storagePath of ${a.name} must be one issued for run ${a.runId}`, {
              details: { storagePath: a.storagePath },
            })
          }
          const stat = await store.stat(a.storagePath)
          if (!stat) {
            throw new ValidationError(`nothing was uploaded to ${a.storagePath}`, {
              details: { storagePath: a.storagePath },
            })
          }
          if (stat.size !== a.size || stat.sha256 !== a.sha256) {
            throw new ValidationError(
              `the uploaded content of ${a.name} does not match its size and sha256`,
              {
                details: {
                  storagePath: a.storagePath,
                  expected: { size: a.size, sha256: a.sha256 },
                  actual: stat,
                },
              },
            )
          }
        }
      }
      return artifacts
    },
    createUploadUrl: async ({ backend, input, tx }) => {
      const s = needStore()
      await may(tx, 'ops.create_artifacts(jsonb)')
      const runId = input.runId as string
      found(await backend.getRun(runId), `run ${runId}`)
      const storagePath = `${runId}/${crypto.randomUUID()}/${input.name as string}`
      const expiresInSeconds = input.expiresInSeconds as number
      const size = input.size as number | undefined
      if (size !== undefined && size > maxUploadBytes) {
        throw new ValidationError(`size ${size} is over the upload limit of ${maxUploadBytes} bytes`)
      }
      const signed = await s.createUploadUrl({
        storagePath,
        contentType: (input.contentType as string | undefined) ?? 'application/octet-stream',
        maxSize: size ?? maxUploadBytes,
        expiresInSeconds,
      })
      return {
        url: signed.url,
        method: 'PUT',
        headers: signed.headers,
        storagePath,
        expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
      }
    },
    createDownloadUrl: async ({ backend, input, tx }) => {
      const s = needStore()
      let artifact: C.Artifact | null
      if (typeof input.id === 'string') artifact = await backend.getArtifact(input.id)
      else {
        const [row] =
          await tx`select * from ops.artifacts where storage_path = ${input.storagePath as string} limit 1`
        artifact = row ? toArtifact(row) : null
      }
      const a = found(artifact, `artifact ${input.id ?? input.storagePath}`)
      const expiresInSeconds = input.expiresInSeconds as number
      const expiresAt = new Date(Date.now() + expiresInSeconds * 1000).toISOString()
      if (a.kind === 'link' && a.url) return { url: a.url, expiresAt }
      if (a.kind !== 'file' || !a.storagePath) {
        throw new ValidationError(`artifact ${a.id} is ${a.kind}, not a file: read its text from the record`)
      }
      return {
        url: await s.createDownloadUrl(a.storagePath, { expiresInSeconds, fileName: a.name }),
        expiresAt,
      }
    },
    deleteArtifactContent: async ({ input, tx }) => {
      const s = needStore()
      await may(tx, 'ops.create_artifacts(jsonb)')
      const paths = input.storagePaths as string[]
      // Recorded content is the retention purge's to delete, never a caller's.
      const recorded = new Set(
        (
          await tx`select storage_path from ops.artifacts where storage_path = any(${tx.array(paths)}::text[])`
        ).map((r) => String(r.storage_path)),
      )
      const orphans = paths.filter((p) => !recorded.has(p) && /^[0-9a-f-]{36}\/[0-9a-f-]{36}\/[^/]+$/.test(p))
      await s.delete(orphans)
      return { count: orphans.length }
    },
    purgeArtifacts: async ({ input, tx }) => {
      const rows = await tx`select storage_path from ops.purge_expired_artifacts(${input.limit as number})`
      const storagePaths = rows.map((r) => r.storage_path).filter((p): p is string => typeof p === 'string')
      return { purged: rows.length, storagePaths }
    },
    createTemplate: ({ backend, input }) => createOpsClient({ backend }).templates.create(input as never),
    listTemplates: ({ backend, input }) => backend.listTemplates(input as never),
    getTemplate: async ({ backend, input }) =>
      found(
        await backend.getTemplate(input as never),
        `template ${input.name}${input.version ? `@${input.version}` : ''}`,
      ),
    listWorkers: ({ backend }) => backend.listWorkers(),
    queueStats: ({ backend, input }) => backend.queueStats(input as never),
    setKindPolicy: ({ backend, input }) => backend.setKindPolicy(input as never),
    listKindPolicies: ({ backend }) => backend.listKindPolicies(),
    deleteKindPolicy: async ({ backend, input }) => ({
      deleted: await backend.deleteKindPolicy(input as never),
    }),
    claimRuns: ({ backend, input }) => backend.claimRuns(input as never),
    heartbeat: ({ backend, input }) => backend.heartbeat(input as never),
    completeRuns: ({ backend, input }) => backend.completeRuns(input as never),
    failRuns: ({ backend, input }) => backend.failRuns(input as never),
    ackCancel: ({ backend, input }) => backend.ackCancel(input as never),
    releaseRuns: ({ backend, input }) => backend.releaseRuns(input as never),
    updateProgress: async ({ backend, input }) => ({ count: await backend.updateProgress(input as never) }),
    recoverStuckRuns: ({ backend, input }) => backend.recoverStuckRuns(input as never),
  }

  /**
   * Runs `fn` in one transaction as the caller's role, with the JWT claims visible to SQL. BEGIN and
   * the role setup are pipelined with the operation's first query on one reserved connection (one
   * round trip instead of three); if either fails, the transaction is aborted and so is the query.
   */
  async function asCaller<T>(caller: Caller, readOnly: boolean, fn: (tx: Tx) => Promise<T>): Promise<T> {
    let conn: postgres.ReservedSql | undefined
    try {
      conn = await sql.reserve()
      const begin = conn.unsafe(readOnly ? 'begin read only' : 'begin').execute()
      const setup =
        conn`select set_config('role', ${caller.role}, true), set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)`.execute()
      begin.catch(() => {})
      setup.catch(() => {})
      let result: T
      try {
        result = await fn(conn as unknown as Tx)
        await begin
        await setup
      } catch (err) {
        await conn.unsafe('rollback').catch(() => {})
        // A failed setup explains the failure better than the aborted query after it.
        await begin
        await setup
        throw err
      }
      await conn.unsafe('commit')
      return result
    } catch (err) {
      throw toOpsError(err)
    } finally {
      conn?.release()
    }
  }

  async function readInput(route: RouteDef, request: Request, url: URL, params: Record<string, string>) {
    let raw: unknown
    if (route.source === 'body') raw = await readJsonBody(request, bodyLimit, bodyTimeoutMs)
    else if (route.source === 'query') raw = queryToInput(url.searchParams, route.input)
    else raw = {}
    if (route.pathParams) {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        throw new ValidationError(`invalid ${route.id} request: the body must be a JSON object`)
      }
      raw = { ...(raw as object) }
      for (const [param, field] of Object.entries(route.pathParams)) {
        ;(raw as Record<string, unknown>)[field] = params[param]
      }
    }
    return route.input ? (parseInput(route.input, raw, `${route.id} request`) as Record<string, unknown>) : {}
  }

  async function openChanges(
    caller: Caller,
    input: Record<string, unknown>,
    request: Request,
  ): Promise<Response> {
    if (!hub) throw new NotFoundError('the change stream is disabled here')
    const sessionId = input.sessionId as string | undefined
    const events = await asCaller(caller, true, async (tx) => {
      const [row] = await tx`
        select has_table_privilege('ops.runs', 'select') as runs,
               has_function_privilege('ops.run_history(uuid, bigint)', 'execute')
                 and has_table_privilege('ops.run_events', 'select') as events`
      if (!row?.runs) throw new ForbiddenError('permission denied for table runs')
      if (sessionId !== undefined) {
        const [s] = await tx`select 1 from ops.sessions where id = ${sessionId}`
        if (!s) throw new NotFoundError(`session ${sessionId} does not exist`)
      }
      return Boolean(row.events)
    })
    const token = request.headers.get('authorization') ?? ''
    const mine = streamsOf.get(token) ?? 0
    if (openStreams >= maxStreams || mine >= maxStreamsPerToken) {
      throw new RateLimitedError(
        openStreams >= maxStreams
          ? `too many open change streams (${maxStreams}): poll, or retry later`
          : `this token already has ${mine} open change streams (the limit is ${maxStreamsPerToken})`,
        { details: { retryAfterSeconds: 5 } },
      )
    }
    openStreams++
    streamsOf.set(token, mine + 1)
    let released = false
    const release = () => {
      if (released) return
      released = true
      openStreams--
      const n = (streamsOf.get(token) ?? 1) - 1
      if (n <= 0) streamsOf.delete(token)
      else streamsOf.set(token, n)
    }
    let stream: ReadableStream<Uint8Array>
    try {
      const digestMs = input.digestMs as number | undefined
      stream = await hub.open(
        { sessionId, events, ...(digestMs === undefined ? {} : { digestMs }) },
        request.headers.get('last-event-id'),
        request.signal,
        release,
      )
    } catch (err) {
      release()
      throw new UnavailableError('live changes are unavailable here (LISTEN failed): poll instead', {
        cause: err,
      })
    }
    return new Response(stream, {
      status: 200,
      headers: {
        ...corsHeaders,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      },
    })
  }

  async function handle(request: Request): Promise<Response> {
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      return errorResponse(new ValidationError('the request URL is malformed'), corsHeaders)
    }
    if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: corsHeaders })
    const path = stripPrefix(url.pathname)
    const match = matchRoute(request.method === 'HEAD' ? 'GET' : request.method, path)
    if (!match) throw new NotFoundError(`no route ${request.method} ${path}`)
    if ('allowed' in match) {
      return jsonResponse(
        { error: { code: 'validation', message: `use ${match.allowed.join(' or ')} for ${path}` } },
        405,
        { ...corsHeaders, allow: match.allowed.join(', ') },
      )
    }
    const { route, params } = match

    if (route.id === 'health') {
      try {
        await sql`select 1`
        return jsonResponse({ ok: true, database: 'up', version: VERSION }, 200, corsHeaders)
      } catch {
        return jsonResponse({ ok: false, database: 'down', version: VERSION }, 503, corsHeaders)
      }
    }

    // Authenticate, then authorise, before reading a body: a caller refused by the route's roles (the
    // database's grants, written out in the route table; authMatrix.test.ts keeps the two equal)
    // costs no parsing or validation, whatever it sent.
    const caller = await verify(request.headers.get('authorization'))
    if (!route.roles.includes(caller.role)) {
      await request.body?.cancel().catch(() => {})
      throw new ForbiddenError(`role ${caller.role} may not call ${route.id}`)
    }
    const input = await readInput(route, request, url, params)
    if (route.id === 'changes') return await openChanges(caller, input, request)

    const operation = operations[route.id]
    if (!operation) throw new NotFoundError(`no route ${request.method} ${path}`)
    const result = await asCaller(caller, route.readOnly, (tx) =>
      operation({ input, tx, caller, request, backend: postgresBackend({ sql: tx }) }),
    )
    if (route.id === 'purgeArtifacts' && store) {
      // After the commit: content whose record is gone is unreachable; deleting it cannot be undone.
      await store.delete((result as { storagePaths: string[] }).storagePaths)
    }
    return jsonResponse(result, route.status, corsHeaders)
  }

  const handler = (async (request: Request): Promise<Response> => {
    try {
      return await handle(request)
    } catch (err) {
      const e = clientFacing(toOpsError(err))
      // A client that went away caused whatever failed after it: nothing to log, nobody to answer.
      if ((e.code === 'internal' || e.code === 'unavailable') && !request.signal.aborted) onError(e, request)
      return errorResponse(e, corsHeaders)
    }
  }) as ExecutorHandler
  handler.close = async () => {
    await hub?.close()
    await rootBackend.close()
    if (owned) await sql.end({ timeout: 5 })
  }
  return handler
}
