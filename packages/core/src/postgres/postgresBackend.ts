import postgres from 'postgres'
import { type Backend, type ChangeType, changeTypes, type Parsed, type Unsubscribe } from '../backend'
import { createChangeFanout } from '../changeFanout'
import type * as C from '../contract'
import { LANES } from '../contract'
import {
  changesFromNotification,
  type NOTIFY_CHANNELS,
  RUN_COLUMNS,
  toArtifact,
  toKindPolicy,
  toRun,
  toRunChanges,
  toRunEvent,
  toRunFromValues,
  toSession,
  toTemplate,
  toWorker,
} from '../rows'
import { decodeSessionCursor, encodeSessionCursor } from '../sessionCursor'
import { type RawSessionStats, toSessionStats } from '../sessionStats'
import { type ChangeWatch, createChangeWatch } from './changeWatch'
import { pgArray } from './pgArray'
import { toOpsError } from './pgErrors'

/** A postgres.js client or transaction: anything that runs tagged-template queries. */
export type Sql = postgres.Sql | postgres.TransactionSql

export interface PostgresBackendOptions {
  /** A PostgreSQL connection URL. Either this or `sql`. */
  databaseUrl?: string
  /**
   * An existing postgres.js client or transaction to run queries on (it is not closed by `close()`).
   * The executor API uses this to run one request's queries in a transaction as the caller's role.
   */
  sql?: Sql
  /** Pool size when `databaseUrl` is given. Default 10. */
  max?: number
  /** Use prepared statements (default true). Turn off behind a transaction pooler (Supabase's pooler). */
  prepare?: boolean
  /** Name shown in pg_stat_activity. */
  applicationName?: string
  /**
   * Seconds to wait for a new connection. Default 5 (the driver's 30 would hold every call that long
   * while the database restarts).
   */
  connectTimeoutSeconds?: number
  /**
   * Lets workers on this backend wait for runs handed to them by the enqueue (`waitForRuns`), which
   * needs LISTEN on a session of its own. Default: on, unless `prepare` is false (a transaction
   * pooler, where notifications do not reach a session reliably).
   */
  handoff?: boolean
}

type Row = Record<string, unknown>

/** An ILIKE pattern matching `text` anywhere, with its own wildcards taken literally. */
const like = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** RUN_COLUMNS in their order, for rows read as arrays (see `toRunFromValues`). */
const RUN_SELECT = RUN_COLUMNS.map((c) => `"${c}"`).join(', ')
const CLAIM_SQL = `select ${RUN_SELECT} from ops.claim_runs($1::text, $2::ops.lane_type[], $3::int[], $4::text[])`
const ENQUEUE_SQL = `select ${RUN_SELECT} from ops.enqueue_runs($1::uuid, $2::jsonb)`
const WAIT_SQL = `select run_id, lease::text from ops.wait_for_runs($1::text, $2::ops.lane_type[], $3::int[], $4::text[], $5::int)`
// `sql.unsafe` prepares only when asked; a client made with `prepare: false` (behind a transaction
// pooler) still prepares nothing.
const PREPARED = { prepare: true }

/**
 * A backend that talks to PostgreSQL directly: every operation is one call of an `ops.*` function (or
 * one read), and `subscribe` uses LISTEN/NOTIFY on one shared connection that exists only while
 * someone listens.
 *
 * @example
 * const client = createOpsClient({ backend: postgresBackend({ databaseUrl: process.env.DATABASE_URL }) })
 */
export function postgresBackend(options: PostgresBackendOptions): Backend {
  if (!options.sql && !options.databaseUrl) {
    throw new TypeError('postgresBackend needs { databaseUrl } or { sql }')
  }
  const owned = !options.sql
  const connect = (max: number, name: string) =>
    postgres(options.databaseUrl as string, {
      max,
      prepare: options.prepare ?? true,
      onnotice: () => {},
      connection: { application_name: name },
      transform: { undefined: null },
      // timestamptz stays PostgreSQL's text: the row mappers turn it into ISO strings without a Date
      // (see rows.ts). Dates sent as parameters are serialised as before.
      types: {
        timestamptzText: {
          to: 1184,
          from: [1184],
          serialize: (x: unknown) => (x instanceof Date ? x : new Date(String(x))).toISOString(),
          parse: (x: string) => x,
        },
      },
      connect_timeout: options.connectTimeoutSeconds ?? 5,
      // The driver's default backoff grows to 20 s across the whole pool after a few failed
      // connections, so a 2 s restart kept calls waiting for half a minute. Retry within a second.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    })
  const appName = options.applicationName ?? 'ops-control-room'
  const sql: Sql = options.sql ?? connect(options.max ?? 10, appName)
  // Heartbeats get a connection of their own, so claims or settlements stuck behind a slow or dead
  // connection can never starve them (a starved heartbeat gets live runs recovered and run twice).
  let heartbeatSql: Sql | undefined
  const heartbeatConnection = (): Sql => {
    if (!owned) return sql
    heartbeatSql ??= connect(1, `${appName}:heartbeat`)
    return heartbeatSql
  }

  // Arrays travel as array literals cast in SQL (`${pgArray(ids)}::uuid[]`): the driver's own array
  // serialisation depends on type information it loads lazily per connection, and fails on the very
  // first query of a fresh client.
  // Typed as jsonb explicitly, so the driver serialises exactly once whether or not it prepares.
  const json = (value: unknown) => sql.json((value ?? null) as postgres.JSONValue)

  async function q<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw toOpsError(err)
    }
  }
  const runs = (rows: readonly Row[]) => rows.map(toRun)

  let closed = false

  // LISTEN/NOTIFY on one connection that exists only while someone subscribes. Each channel has its
  // own fan-out, so a channel is listened to only while somebody wants its kind of change. Run and
  // events changes are sent by the database only while someone is registered as watching them
  // (ops.watch_changes): workers, which listen only to queued and cancel, leave the settle path
  // without notifications.
  let watch: ChangeWatch | undefined
  function listenTo(channel: (typeof NOTIFY_CHANNELS)[number]) {
    const watched = channel === 'ops_run_changes' || channel === 'ops_run_events'
    return createChangeFanout({
      open: (emit) =>
        q(async () => {
          const root = sql as postgres.Sql
          if (typeof root.listen !== 'function') {
            throw new TypeError('subscribe needs a postgres.js client, not a transaction')
          }
          const dispatch = (payload: string) => {
            // A run handed to a waiting worker rides the wake-up channel: only that worker takes it.
            if (channel === 'ops_runs_queued' && payload.charCodeAt(0) === 123 /* { */) {
              deliverHandoff(payload)
              return
            }
            for (const change of changesFromNotification(channel, payload)) emit(change)
          }
          let first = true
          const handle = await root.listen(channel, dispatch, () => {
            // After a reconnect, notifications sent meanwhile are lost: wake everyone up once.
            if (!first && channel === 'ops_runs_queued') for (const lane of LANES) dispatch(lane)
            first = false
          })
          if (watched) {
            watch ??= createChangeWatch(root)
            try {
              await watch.acquire()
            } catch (err) {
              await handle.unlisten().catch(() => {})
              throw err
            }
          }
          return handle
        }),
      close: async (handle: { unlisten: () => Promise<void> }) => {
        await handle.unlisten().catch(() => {})
        if (watched) await watch?.release()
      },
    })
  }
  // Workers of this process that wait for handed runs, by worker id.
  const handoffListeners = new Map<string, (run: C.Run) => void>()
  function deliverHandoff(payload: string) {
    let message: { handoff?: unknown; run?: unknown }
    try {
      message = JSON.parse(payload) as typeof message
    } catch {
      return
    }
    if (typeof message.handoff !== 'string' || !Array.isArray(message.run)) return
    const listener = handoffListeners.get(message.handoff)
    if (listener) listener(toRunFromValues(message.run))
  }
  const handoff = options.handoff ?? options.prepare !== false

  const channels = {
    queued: listenTo('ops_runs_queued'),
    cancel: listenTo('ops_cancel'),
    run: listenTo('ops_run_changes'),
    events: listenTo('ops_run_events'),
  } satisfies Record<ChangeType, unknown>

  const backend: Backend = {
    kind: 'postgres',

    createSession: (input) =>
      q(async () => {
        const [row] =
          await sql`select * from ops.create_session(${input.name}, ${input.description ?? null}, ${json(input.metadata ?? {})}::jsonb)`
        return toSession(row as Row)
      }),

    getSession: (id) =>
      q(async () => {
        const [row] = await sql`select * from ops.sessions where id = ${id}`
        return row ? toSession(row) : null
      }),

    listSessions: (input) =>
      q(async () => {
        // Keyset on (created_at desc, id asc), the order of idx_sessions_created, compared in
        // microseconds: a JS Date (milliseconds) would skip or repeat sessions of the same millisecond.
        const after = input.cursor === undefined ? null : decodeSessionCursor(input.cursor)
        const conditions = [
          input.before === undefined ? undefined : sql`created_at < ${input.before}`,
          after === null
            ? undefined
            : // Sent as text: the driver would read a timestamptz parameter into a Date (milliseconds).
              sql`created_at <= ${after.at}::text::timestamptz and (created_at < ${after.at}::text::timestamptz or id > ${after.id}::uuid)`,
          input.search === undefined ? undefined : sql`name ilike ${like(input.search)}`,
        ].filter((c) => c !== undefined)
        const where =
          conditions.length === 0 ? sql`true` : conditions.reduce((all, c) => sql`${all} and ${c}`)
        const rows = await sql`
          select *, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at
          from ops.sessions where ${where} order by created_at desc, id limit ${input.limit}`
        return rows.map((r) => ({
          ...toSession(r),
          cursor: encodeSessionCursor(String(r.cursor_at), String(r.id)),
        }))
      }),

    enqueueRuns: (input) =>
      q(async () => {
        const specs = input.runs.map((r) => ({
          kind: r.kind,
          lane: r.lane,
          priority: r.priority,
          params: r.params,
          run_at: r.runAt,
          max_attempts: r.maxAttempts,
          timeout_seconds: r.timeoutSeconds,
          idempotency_key: r.idempotencyKey,
          template_name: r.template?.name,
          template_version: r.template?.version,
        }))
        // A constant text and the rows as arrays: a single enqueue is the first step of a
        // pickup.
        const rows = await sql.unsafe(ENQUEUE_SQL, [input.sessionId, json(specs)], PREPARED).values()
        return rows.map(toRunFromValues)
      }),

    getRun: (id) =>
      q(async () => {
        const [row] = await sql`select * from ops.runs where id = ${id}`
        return row ? toRun(row) : null
      }),

    listRuns: (input) =>
      q(async () => {
        // Only the filters given, and a plain `order by seq`: catch-all predicates such as
        // `($1 is null or session_id = $1)` defeat the indexes once a prepared statement goes generic,
        // and the Runboard re-reads this on every change.
        const statuses =
          input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status]
        const conditions = [
          input.sessionId === undefined ? undefined : sql`session_id = ${input.sessionId}`,
          statuses === undefined ? undefined : sql`status = any(${pgArray(statuses)}::ops.run_status[])`,
          input.lane === undefined ? undefined : sql`lane = ${input.lane}::ops.lane_type`,
          input.kind === undefined ? undefined : sql`kind = ${input.kind}`,
          input.afterSeq === undefined ? undefined : sql`seq > ${input.afterSeq}`,
          input.beforeSeq === undefined ? undefined : sql`seq < ${input.beforeSeq}`,
          input.ids === undefined ? undefined : sql`id = any(${pgArray(input.ids)}::uuid[])`,
          input.workerId === undefined ? undefined : sql`worker_id = ${input.workerId}`,
          input.createdAfter === undefined ? undefined : sql`created_at >= ${input.createdAfter}`,
          input.createdBefore === undefined ? undefined : sql`created_at < ${input.createdBefore}`,
          input.updatedAfter === undefined ? undefined : sql`updated_at > ${input.updatedAfter}`,
          input.search === undefined
            ? undefined
            : sql`(kind ilike ${like(input.search)} or params::text ilike ${like(input.search)}
                or error::text ilike ${like(input.search)} or progress_message ilike ${like(input.search)})`,
        ].filter((c) => c !== undefined)
        const where =
          conditions.length === 0 ? sql`true` : conditions.reduce((all, c) => sql`${all} and ${c}`)
        if (input.perLane) {
          // One index range scan per lane, newest first, in one statement.
          const lanes = input.lane === undefined ? LANES : [input.lane]
          const order = input.afterSeq === undefined ? sql`order by seq desc` : sql`order by seq`
          return runs(
            await sql`
              select r.* from unnest(${pgArray([...lanes])}::ops.lane_type[]) as l(lane)
              cross join lateral (
                select * from ops.runs where ${where} and lane = l.lane ${order} limit ${input.limit}
              ) r`,
          )
        }
        const rows =
          input.afterSeq === undefined
            ? await sql`select * from ops.runs where ${where} order by seq desc limit ${input.limit}`
            : await sql`select * from ops.runs where ${where} order by seq limit ${input.limit}`
        return runs(rows)
      }),

    countRuns: (input) =>
      q(async () => {
        const statuses =
          input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status]
        const conditions = [
          input.sessionId === undefined ? undefined : sql`session_id = ${input.sessionId}`,
          statuses === undefined ? undefined : sql`status = any(${pgArray(statuses)}::ops.run_status[])`,
          input.lanes === undefined ? undefined : sql`lane = any(${pgArray(input.lanes)}::ops.lane_type[])`,
          input.kind === undefined ? undefined : sql`kind = ${input.kind}`,
          input.workerId === undefined ? undefined : sql`worker_id = ${input.workerId}`,
          input.createdAfter === undefined ? undefined : sql`created_at >= ${input.createdAfter}`,
          input.createdBefore === undefined ? undefined : sql`created_at < ${input.createdBefore}`,
          input.search === undefined
            ? undefined
            : sql`(kind ilike ${like(input.search)} or params::text ilike ${like(input.search)}
                or error::text ilike ${like(input.search)} or progress_message ilike ${like(input.search)})`,
        ].filter((c) => c !== undefined)
        const where =
          conditions.length === 0 ? sql`true` : conditions.reduce((all, c) => sql`${all} and ${c}`)
        // Bounded: at most max + 1 rows are looked at, whatever the filter.
        const [row] = await sql`
          select count(*)::int as n from (select 1 from ops.runs where ${where} limit ${input.max + 1}) m`
        const n = Number(row?.n ?? 0)
        return { count: Math.min(n, input.max), capped: n > input.max }
      }),

    // The filter travels as jsonb; ops.matching_run_ids builds the same conditions as countRuns.
    cancelMatching: (input) =>
      q(async () => {
        const [row] = await sql`
          select ops.cancel_matching(${json(input.filter)}::jsonb, ${input.reason ?? null}::text, ${input.max}::int) as out`
        return row?.out as C.BulkRunsResult
      }),

    retryMatching: (input) =>
      q(async () => {
        const [row] = await sql`
          select ops.retry_matching(${json(input.filter)}::jsonb, ${input.max}::int) as out`
        return row?.out as C.BulkRunsResult
      }),

    laneHistory: (input) =>
      q(async () => {
        const [row] = await sql`
          select ops.lane_history(${input.sessionId ?? null}::uuid, ${input.windowSeconds}::int, ${input.buckets}::int) as h`
        return row?.h as C.LaneHistory
      }),

    retryRuns: (input) =>
      q(async () =>
        runs(
          await sql`select * from ops.retry_runs(${pgArray(input.ids)}::uuid[], ${input.runAt ?? null}::timestamptz)`,
        ),
      ),

    sessionStats: (input) =>
      q(async () => {
        const [row] = await sql`
          select ops.session_stats(${input.sessionId ?? null}::uuid, ${input.windowSeconds}::int, ${input.buckets}::int) as stats`
        return toSessionStats(row?.stats as RawSessionStats, input.sessionId ?? null)
      }),

    cancelRuns: (input) =>
      q(async () =>
        runs(
          await sql`select * from ops.request_cancel(${pgArray(input.ids)}::uuid[], ${input.reason ?? null})`,
        ),
      ),

    listEvents: (input) =>
      q(async () => {
        const rows = await sql`
          select * from ops.run_history(${input.runId}::uuid, ${input.afterId ?? 0}::bigint)
          where (${input.levels === undefined}::boolean or level::text = any(${pgArray(input.levels ?? [])}::text[]))
          order by id
          limit ${input.limit}`
        return rows.map(toRunEvent)
      }),

    listArtifacts: (input) =>
      q(async () =>
        (
          await sql`select * from ops.artifacts where run_id = ${input.runId} order by created_at, name, id`
        ).map(toArtifact),
      ),

    getArtifact: (id) =>
      q(async () => {
        const [row] = await sql`select * from ops.artifacts where id = ${id}`
        return row ? toArtifact(row) : null
      }),

    createTemplate: (input) =>
      q(async () => {
        const spec = {
          name: input.name,
          kind: input.kind,
          lane: input.lane,
          priority: input.priority,
          description: input.description,
          default_params: input.defaultParams,
          params_schema: input.paramsSchema,
          max_attempts: input.maxAttempts,
          timeout_seconds: input.timeoutSeconds,
        }
        const [row] = await sql`select * from ops.create_template(${json(spec)}::jsonb)`
        return toTemplate(row as Row)
      }),

    getTemplate: (input) =>
      q(async () => {
        const [row] =
          input.version === undefined
            ? await sql`select * from ops.run_templates where name = ${input.name} order by version desc limit 1`
            : await sql`select * from ops.run_templates where name = ${input.name} and version = ${input.version}`
        return row ? toTemplate(row) : null
      }),

    listTemplates: (input) =>
      q(async () => {
        const rows = input.latestOnly
          ? await sql`
              select distinct on (name) * from ops.run_templates
              where (${input.name ?? null}::text is null or name = ${input.name ?? null}::text)
              order by name, version desc`
          : await sql`
              select * from ops.run_templates
              where (${input.name ?? null}::text is null or name = ${input.name ?? null}::text)
              order by name, version desc`
        return rows.map(toTemplate)
      }),

    queueStats: (input) =>
      q(async () => {
        const [row] = await sql`select ops.queue_stats(make_interval(secs => ${input.windowSeconds})) as s`
        return toQueueStats(row?.s as QueueStatsRow)
      }),

    setKindPolicy: (input) =>
      q(async () => {
        const spec = {
          kind: input.kind,
          roles: input.roles,
          user_ids: input.userIds ?? null,
          claims: input.claims ?? null,
          description: input.description ?? null,
        }
        const [row] = await sql`select * from ops.set_kind_policy(${json(spec)}::jsonb)`
        return toKindPolicy(row as Row)
      }),

    listKindPolicies: () =>
      q(async () => (await sql`select * from ops.kind_policies order by kind`).map(toKindPolicy)),

    deleteKindPolicy: (input) =>
      q(async () => {
        const [row] = await sql`select ops.delete_kind_policy(${input.kind}) as deleted`
        return Boolean(row?.deleted)
      }),

    listWorkers: () =>
      q(async () =>
        (await sql`select * from ops.workers order by last_seen_at desc limit 1000`).map(toWorker),
      ),

    claimRuns: (input) =>
      q(async () => {
        const lanes = Object.entries(input.lanes).filter(([, n]) => (n ?? 0) > 0)
        if (lanes.length === 0) return []
        // Rows as arrays of RUN_COLUMNS (the run's columns, not the history ids): no object of 30
        // keys per row for the driver to build, at hundreds of runs per claim. The statement's text
        // is a constant: an idle worker's claim is its pickup, and a tagged template would rebuild
        // the text and quote 30 identifiers on every call.
        const rows = await sql
          .unsafe(
            CLAIM_SQL,
            [
              input.workerId,
              pgArray(lanes.map(([l]) => l)),
              pgArray(lanes.map(([, n]) => n as number)),
              input.kinds ? pgArray(input.kinds) : null,
            ],
            PREPARED,
          )
          .values()
        return rows.map(toRunFromValues)
      }),

    heartbeat: (input) =>
      q(async () => {
        const hb = heartbeatConnection()
        const rows = await hb`
          select * from ops.heartbeat(${input.workerId}, ${pgArray(input.runs.map((r) => r.id))}::uuid[],
            ${pgArray(input.runs.map((r) => r.lease))}::bigint[], ${input.info ? json(input.info) : null}::jsonb)`
        const result: C.HeartbeatResult = { cancel: [], lost: [] }
        for (const r of rows) {
          const held = { id: String(r.run_id), lease: String(r.lease) }
          ;(r.action === 'cancel' ? result.cancel : result.lost).push(held)
        }
        return result
      }),

    completeRuns: (input) =>
      q(async () =>
        input.returning === 'changes'
          ? // Only the columns a completion or a held run can change: the worker has the rest. Reading
            // 12 columns instead of 35 back was a quarter of a busy worker's CPU per run.
            (
              await sql`
                select id, lease, status, result, error, finished_at, updated_at, heartbeat_at,
                  cancel_requested_at, cancel_reason, progress, progress_message
                from ops.complete_runs(${input.workerId}, ${json(input.results)}::jsonb)`
            ).map(toRunChanges)
          : runs(
              await sql`select * from ops.complete_runs(${input.workerId}, ${json(input.results)}::jsonb)`,
            ),
      ),

    failRuns: (input) =>
      q(async () => {
        const failures = input.failures.map((f) => ({
          id: f.id,
          lease: f.lease,
          error: f.error,
          retry: f.retry,
          retry_delay_ms: f.retryDelayMs,
        }))
        return runs(await sql`select * from ops.fail_runs(${input.workerId}, ${json(failures)}::jsonb)`)
      }),

    ackCancel: (input) =>
      q(async () =>
        runs(
          await sql`select * from ops.ack_cancel(${input.workerId}, ${pgArray(input.runs.map((r) => r.id))}::uuid[], ${pgArray(input.runs.map((r) => r.lease))}::bigint[], ${input.note ?? null})`,
        ),
      ),

    releaseRuns: (input) =>
      q(async () =>
        runs(
          await sql`select * from ops.release_runs(${input.workerId}, ${pgArray(input.runs.map((r) => r.id))}::uuid[], ${pgArray(input.runs.map((r) => r.lease))}::bigint[], ${input.reason ?? 'worker stopping'})`,
        ),
      ),

    recoverStuckRuns: (input) =>
      q(async () =>
        runs(await sql`select * from ops.recover_stuck_runs(${input.timeoutSeconds}, ${input.limit})`),
      ),

    updateProgress: (input) =>
      q(async () => {
        const [row] =
          await sql`select ops.update_progress(${input.workerId}, ${json(input.updates)}::jsonb) as n`
        return Number(row?.n ?? 0)
      }),

    appendEvents: (input) =>
      q(async () => {
        const events = input.events.map((e) => ({
          run_id: e.runId,
          lease: e.lease,
          level: e.level,
          type: e.type,
          message: e.message,
          data: e.data,
          at: e.at,
        }))
        const [row] = await sql`select ops.append_events(${json(events)}::jsonb) as n`
        return Number(row?.n ?? 0)
      }),

    createArtifacts: (input) =>
      q(async () => {
        const artifacts = input.artifacts.map((a) => ({
          run_id: a.runId,
          lease: a.lease,
          name: a.name,
          kind: a.kind,
          content_type: a.contentType,
          size: a.size,
          sha256: a.sha256,
          storage_path: a.storagePath,
          url: a.url,
          text: a.text,
          metadata: a.metadata,
          expires_at: a.expiresAt,
        }))
        return (await sql`select * from ops.create_artifacts(${json(artifacts)}::jsonb)`).map(toArtifact)
      }),

    async subscribe(listener, options) {
      if (closed) throw new TypeError('this backend is closed')
      const types = changeTypes(options)
      const opened = await Promise.allSettled(types.map((t) => channels[t].subscribe(listener)))
      const unsubscribes = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
      const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected')
      const unsubscribe: Unsubscribe = async () => {
        await Promise.all(unsubscribes.map((u) => u()))
      }
      if (failed) {
        await unsubscribe()
        throw failed.reason
      }
      return unsubscribe
    },

    ...(handoff
      ? {
          waitForRuns: (input) =>
            q(async () => {
              const lanes = LANES.filter((l) => input.lanes[l] !== undefined)
              const rows = await sql.unsafe(
                WAIT_SQL,
                [
                  input.workerId,
                  pgArray(lanes),
                  pgArray(lanes.map((l) => input.lanes[l] as number)),
                  pgArray([...input.kinds]),
                  input.ttlMs,
                ],
                PREPARED,
              )
              return rows.map((r) => ({ id: String(r.run_id), lease: String(r.lease) }))
            }),
          async onHandoff(workerId, listener) {
            if (closed) throw new TypeError('this backend is closed')
            if (handoffListeners.has(workerId)) {
              throw new TypeError(`worker ${workerId} already hears its handed runs on this backend`)
            }
            // The handed runs come on the wake-up channel: listened to while this holds it.
            const unsubscribe = await channels.queued.subscribe(() => {})
            handoffListeners.set(workerId, listener)
            let done = false
            return async () => {
              if (done) return
              done = true
              if (handoffListeners.get(workerId) === listener) handoffListeners.delete(workerId)
              await unsubscribe()
            }
          },
        }
      : {}),

    async tryWithLock(key, fn) {
      const root = sql as postgres.Sql
      return await q(async () => {
        const reserved = await root.reserve()
        try {
          const [row] = await reserved`select pg_try_advisory_lock(hashtext(${key})) as ok`
          if (!row?.ok) return undefined
          try {
            return await fn()
          } finally {
            await reserved`select pg_advisory_unlock(hashtext(${key}))`
          }
        } finally {
          reserved.release()
        }
      })
    },

    ping: () =>
      q(async () => {
        await sql`select 1`
      }),

    async close() {
      if (closed) return
      closed = true
      await Promise.all(Object.values(channels).map((c) => c.closeAll()))
      if (owned) {
        await Promise.all([
          (sql as postgres.Sql).end({ timeout: 5 }),
          (heartbeatSql as postgres.Sql | undefined)?.end({ timeout: 5 }),
        ])
      }
    },
  }
  return backend
}

export type { Parsed }

interface QueueStatsRow {
  at: string
  window_seconds: number
  queued: number | string
  running: number | string
  oldest_queued_seconds: number | string
  queues: {
    lane: C.Lane
    kind: string
    queued: number
    running: number
    oldest_queued_seconds: number | null
  }[]
  finished: { lane: C.Lane; kind: string; succeeded: number; failed: number; cancelled: number }[]
  succeeded: number | string
  failed: number | string
  error_rate: number | string
  recovery: { count: number; max_seconds: number | string; avg_seconds: number | string }
  workers: { live: number; stale: number; stopped_recently: number; health: number | string }
}

/** `ops.queue_stats`' snake_case document as the contract's QueueStats. */
function toQueueStats(s: QueueStatsRow): C.QueueStats {
  return {
    at: new Date(s.at).toISOString(),
    windowSeconds: Number(s.window_seconds),
    queued: Number(s.queued),
    running: Number(s.running),
    oldestQueuedSeconds: Number(s.oldest_queued_seconds),
    queues: s.queues.map((x) => ({
      lane: x.lane,
      kind: x.kind,
      queued: Number(x.queued),
      running: Number(x.running),
      oldestQueuedSeconds: x.oldest_queued_seconds === null ? null : Number(x.oldest_queued_seconds),
    })),
    finished: s.finished.map((x) => ({
      lane: x.lane,
      kind: x.kind,
      succeeded: Number(x.succeeded),
      failed: Number(x.failed),
      cancelled: Number(x.cancelled),
    })),
    succeeded: Number(s.succeeded),
    failed: Number(s.failed),
    errorRate: Number(s.error_rate),
    recovery: {
      count: Number(s.recovery.count),
      maxSeconds: Number(s.recovery.max_seconds),
      avgSeconds: Number(s.recovery.avg_seconds),
    },
    workers: {
      live: Number(s.workers.live),
      stale: Number(s.workers.stale),
      stoppedRecently: Number(s.workers.stopped_recently),
      health: Number(s.workers.health),
    },
  }
}
