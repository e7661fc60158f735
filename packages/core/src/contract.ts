/**
 * The Ops Control Room contract: every entity and every operation's input, defined once in zod and
 * used by the client, the executor API, the OpenAPI document and the React layer.
 *
 * Glossary
 * - session: a named group of runs (one deploy, one PR check, one spec generation).
 * - run: one unit of work: a `kind`, a lane, a priority, params, and a lifecycle
 *   queued → running → succeeded | failed | cancelled (running → queued for a retry or recovery).
 * - kind: which handler executes a run (`shell`, `deploy`, `spec_kit_generate`).
 * - lane: one of four queues, A–D, each with its own worker concurrency.
 * - claim: a worker atomically takes queued runs (`FOR UPDATE SKIP LOCKED`); no run is claimed twice.
 * - heartbeat: a worker's periodic proof that its runs are alive; also how it learns of cancels.
 * - lease: a claimed run stays its worker's while heartbeats arrive; after the timeout it is recovered.
 * - artifact: an output of a run: a file (stored by an artifact store), a link, or text.
 * - template: a named, immutably versioned run definition (kind, lane, defaults, a params schema).
 */
import { z } from 'zod'
import {
  ARTIFACT_KINDS,
  EVENT_LEVELS,
  LANES,
  MAX_ARTIFACT_NAME_BYTES,
  MAX_BULK_RUNS,
  MAX_ENQUEUE_BATCH,
  MAX_PARAMS_BYTES,
  RUN_STATUSES,
} from './constants'
import { findSecret } from './secrets'
import { decodeSessionCursor, MAX_SESSION_CURSOR_LENGTH } from './sessionCursor'

// The constants live in a module without zod (the browser entry uses them); re-exported here.
export {
  ARTIFACT_KINDS,
  EVENT_LEVELS,
  LANES,
  MAX_ARTIFACT_NAME_BYTES,
  MAX_BULK_RUNS,
  MAX_ENQUEUE_BATCH,
  MAX_PARAMS_BYTES,
  RUN_STATUSES,
  TERMINAL_STATUSES,
} from './constants'

/** Whether a name holds a path separator or a control character (CR, LF, NUL, DEL…). */
function hasPathOrControl(n: string): boolean {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i)
    if (c < 32 || c === 127 || c === 47 || c === 92) return true
  }
  return false
}

/** An artifact's name: a file name (no path, no control characters), at most MAX_ARTIFACT_NAME_BYTES. */
export const ArtifactName = z
  .string()
  .min(1)
  // Characters never outnumber bytes: this bounds the work of the byte count below.
  .max(MAX_ARTIFACT_NAME_BYTES)
  .refine((n) => new TextEncoder().encode(n).length <= MAX_ARTIFACT_NAME_BYTES, {
    message: `at most ${MAX_ARTIFACT_NAME_BYTES} bytes (UTF-8)`,
  })
  .refine((n) => !hasPathOrControl(n) && n !== '.' && n !== '..', 'a file name, not a path')

/**
 * A content type: visible ASCII and spaces only. A CR or LF would let it split the download's
 * headers, so it is refused here rather than failing (or worse) when the content is served.
 */
export const ContentType = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'a media type such as text/plain; charset=utf-8 (visible ASCII only)')

export const Lane = z.enum(LANES)
export const RunStatus = z.enum(RUN_STATUSES)
export const EventLevel = z.enum(EVENT_LEVELS)
export const ArtifactKind = z.enum(ARTIFACT_KINDS)

/** A kind, template or event type name (`identifier` below; fastParse.ts tests names with it too). */
export const IDENTIFIER_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,99}$/
const identifier = z
  .string()
  .regex(
    IDENTIFIER_PATTERN,
    'use 1–100 lowercase letters, digits, and _ . : - (starting with a letter or digit)',
  )
const uuid = z.uuid()
const timestamp = z.string()
const jsonObject = z.record(z.string(), z.unknown())

/** A structured error, as stored on a failed run and in `run:failed` events. */
export const ErrorInfo = z.object({
  type: z.string().min(1).max(200),
  message: z.string().max(16_000),
  stack: z.string().max(64_000).optional(),
  context: jsonObject.optional(),
})

export const Session = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  metadata: jsonObject,
  createdBy: z.string().nullable(),
  createdAt: timestamp,
  /**
   * Set on sessions from `sessions.list`: this session's exact place in the list, opaque. Pass the last
   * one of a page as `cursor` to read the next page.
   */
  cursor: z.string().optional(),
})

export const Run = z.object({
  id: uuid,
  seq: z.number().int(),
  sessionId: uuid,
  kind: z.string(),
  lane: Lane,
  priority: z.number().int(),
  params: jsonObject,
  status: RunStatus,
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  timeoutSeconds: z.number().int().nullable(),
  runAt: timestamp,
  idempotencyKey: z.string().nullable(),
  templateName: z.string().nullable(),
  templateVersion: z.number().int().nullable(),
  workerId: z.string().nullable(),
  claimedAt: timestamp.nullable(),
  heartbeatAt: timestamp.nullable(),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  cancelRequestedAt: timestamp.nullable(),
  cancelReason: z.string().nullable(),
  progress: z.number().nullable(),
  progressMessage: z.string().nullable(),
  result: z.unknown().nullable(),
  error: ErrorInfo.nullable(),
  createdBy: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
  /** The lease of the current (or last) claim: unique per claim, never reused; worker writes carry it. */
  lease: z.string().nullable(),
})

/**
 * What a completion answers with `returning: 'changes'`: the run's id and lease, and the only fields
 * that a completion, or anything else while a worker holds the run's lease (heartbeats, progress, a
 * cancel request), can change. A worker merges it into the run it claimed and gets the stored row,
 * without reading all of it back.
 */
export const RunChanges = Run.pick({
  id: true,
  lease: true,
  status: true,
  result: true,
  error: true,
  finishedAt: true,
  updatedAt: true,
  heartbeatAt: true,
  cancelRequestedAt: true,
  cancelReason: true,
  progress: true,
  progressMessage: true,
})

export const RunEvent = z.object({
  id: z.number().int(),
  runId: uuid,
  level: EventLevel,
  type: z.string(),
  message: z.string(),
  data: z.unknown().nullable(),
  /** The attempt of the run this event belongs to (null when it is tied to none, e.g. enqueued). */
  attempt: z.number().int().nullable(),
  createdAt: timestamp,
})

export const Artifact = z.object({
  id: uuid,
  runId: uuid,
  name: z.string(),
  kind: ArtifactKind,
  contentType: z.string(),
  size: z.number().int().nullable(),
  sha256: z.string().nullable(),
  storagePath: z.string().nullable(),
  url: z.string().nullable(),
  text: z.string().nullable(),
  metadata: jsonObject,
  /** The attempt of the run that produced it. */
  attempt: z.number().int().nullable(),
  expiresAt: timestamp,
  createdAt: timestamp,
})

export const RunTemplate = z.object({
  id: uuid,
  name: z.string(),
  version: z.number().int(),
  kind: z.string(),
  lane: Lane,
  priority: z.number().int(),
  description: z.string().nullable(),
  defaultParams: jsonObject,
  paramsSchema: jsonObject.nullable(),
  maxAttempts: z.number().int(),
  timeoutSeconds: z.number().int().nullable(),
  createdBy: z.string().nullable(),
  createdAt: timestamp,
})

export const WorkerInfo = z.object({
  id: z.string(),
  host: z.string().nullable(),
  pid: z.number().int().nullable(),
  lanes: z.array(Lane),
  kinds: z.array(z.string()),
  concurrency: jsonObject,
  version: z.string().nullable(),
  metadata: jsonObject,
  startedAt: timestamp,
  lastSeenAt: timestamp,
  stoppedAt: timestamp.nullable(),
})

/** One lane and kind of the queue right now. */
export const QueueStatsLane = z.object({
  lane: Lane,
  kind: z.string(),
  queued: z.number().int(),
  running: z.number().int(),
  /** Age of the oldest run that is due and still queued; null when none is due. */
  oldestQueuedSeconds: z.number().nullable(),
})

/** Runs of one lane and kind that finished in the window. */
export const QueueStatsFinished = z.object({
  lane: Lane,
  kind: z.string(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
})

/** What `ops.queue_stats` reports: the queue now, and what happened in the last `windowSeconds`. */
export const QueueStats = z.object({
  at: timestamp,
  windowSeconds: z.number().int(),
  queued: z.number().int(),
  running: z.number().int(),
  oldestQueuedSeconds: z.number(),
  queues: z.array(QueueStatsLane),
  finished: z.array(QueueStatsFinished),
  succeeded: z.number().int(),
  failed: z.number().int(),
  /** failed / (succeeded + failed) in the window; 0 when nothing finished. */
  errorRate: z.number(),
  /** Stuck-run recoveries in the window; a recovery's time runs from the last heartbeat to the sweep. */
  recovery: z.object({ count: z.number().int(), maxSeconds: z.number(), avgSeconds: z.number() }),
  /** Live: a heartbeat in the last 30 s. Stale: silent 30 s to 5 min, never said it stopped. health = live / (live + stale). */
  workers: z.object({
    live: z.number().int(),
    stale: z.number().int(),
    stoppedRecently: z.number().int(),
    health: z.number(),
  }),
})

// ---------------------------------------------------------------------------------------------------
// Inputs

/** Params: a JSON object, at most MAX_PARAMS_BYTES, holding no credentials. */
export const Params = jsonObject.superRefine((value, ctx) => {
  let size: number
  try {
    size = new TextEncoder().encode(JSON.stringify(value)).length
  } catch {
    ctx.addIssue({ code: 'custom', message: 'params must be JSON-serialisable' })
    return
  }
  if (size > MAX_PARAMS_BYTES) {
    ctx.addIssue({ code: 'custom', message: `params are ${size} bytes; the limit is ${MAX_PARAMS_BYTES}` })
    return
  }
  const path = findSecret(value)
  if (path) {
    ctx.addIssue({
      code: 'custom',
      message: `the value at ${path} looks like a secret; pass secrets through the worker's environment or a vault, never in params`,
      params: { secretPath: path },
    })
  }
})

/** Session metadata: a JSON object holding no credentials (checked like params). */
const SessionMetadata = jsonObject.superRefine((value, ctx) => {
  const path = findSecret(value, 'metadata')
  if (path) {
    ctx.addIssue({
      code: 'custom',
      message: `the value at ${path} looks like a secret; pass secrets through the worker's environment or a vault, never in metadata`,
      // Named from the input's root (`metadata.x`), as params' paths are named from `params`.
      params: { secretPath: path.replace(/^metadata/, '') },
    })
  }
})

export const CreateSessionInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(10_000).optional(),
  metadata: SessionMetadata.optional(),
})

export const ListSessionsInput = z.strictObject({
  limit: z.number().int().min(1).max(1000).default(50),
  /**
   * Sessions created strictly before this timestamp (ISO 8601). Millisecond precision: to page, use
   * `cursor`, which skips and repeats nothing.
   */
  before: z.iso.datetime({ offset: true }).optional(),
  /** The sessions after this one in the list (the `cursor` of the last session of the previous page). */
  cursor: z
    .string()
    .max(MAX_SESSION_CURSOR_LENGTH)
    .refine(
      (c) => decodeSessionCursor(c) !== null,
      'not a session cursor (use a Session.cursor from sessions.list)',
    )
    .optional(),
  /** Case-insensitive text in the session's name. */
  search: z.string().trim().min(1).max(200).optional(),
})

/**
 * One run to enqueue. With a template, `kind` may be omitted and the template supplies defaults.
 * fastParse.ts checks the common case of this input and of ClaimRunsInput by hand (its test compares
 * it with these schemas): keep the two in step.
 */
export const RunSpec = z.strictObject({
  kind: identifier.optional(),
  lane: Lane.optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  params: Params.optional(),
  /** Not claimable before this time (ISO 8601). */
  runAt: z.iso.datetime({ offset: true }).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  timeoutSeconds: z.number().int().min(1).max(604_800).optional(),
  /**
   * Scoped to the session: a retried enqueue with the same key and the same request creates nothing
   * and returns the existing run; the same key with a different request is an IdempotencyConflictError.
   */
  idempotencyKey: z.string().min(1).max(200).optional(),
  template: z.strictObject({ name: identifier, version: z.number().int().min(1).optional() }).optional(),
})

export const EnqueueRunsInput = z
  .strictObject({
    sessionId: uuid,
    runs: z.array(RunSpec).min(1).max(MAX_ENQUEUE_BATCH),
  })
  .superRefine((input, ctx) => {
    input.runs.forEach((run, i) => {
      if (!run.kind && !run.template) {
        ctx.addIssue({
          code: 'custom',
          path: ['runs', i, 'kind'],
          message: 'kind is required unless a template is given',
        })
      }
    })
  })

export const ListRunsInput = z
  .strictObject({
    sessionId: uuid.optional(),
    status: z.union([RunStatus, z.array(RunStatus).min(1)]).optional(),
    lane: Lane.optional(),
    kind: identifier.optional(),
    limit: z.number().int().min(1).max(5000).default(500),
    /** Runs enqueued after this sequence number (ascending order); without it, the newest first. */
    afterSeq: z.number().int().min(0).optional(),
    /** Runs enqueued before this sequence number, newest first: the cursor of the next page back. */
    beforeSeq: z.number().int().min(0).optional(),
    /** Only these runs (re-reading the rows a live change named). At most 200: they travel in a URL. */
    ids: z.array(uuid).min(1).max(200).optional(),
    /** Only runs claimed last by this worker. */
    workerId: z.string().min(1).max(200).optional(),
    /** Case-insensitive text in the kind, params, error or progress message. */
    search: z.string().trim().min(1).max(200).optional(),
    /** Runs created at or after this time (ISO 8601). */
    createdAfter: z.iso.datetime({ offset: true }).optional(),
    /** Runs created before this time (ISO 8601). */
    createdBefore: z.iso.datetime({ offset: true }).optional(),
    /**
     * Runs updated after this time (ISO 8601). With `afterSeq`, this reads what changed in a loaded
     * window of a list, and what was added after it, in one cheap range scan (a live list's resync).
     */
    updatedAfter: z.iso.datetime({ offset: true }).optional(),
    /** `limit` applies to each lane: the newest of every lane in one call (a board's first pages). */
    perLane: z.boolean().optional(),
  })
  .refine((v) => v.afterSeq === undefined || v.beforeSeq === undefined, {
    path: ['beforeSeq'],
    message: 'give afterSeq or beforeSeq, not both',
  })

/**
 * Which runs a count or a bulk action covers: the Runboard's filter, over every matching run in the
 * database, not only the loaded ones.
 */
export const RunFilter = z.strictObject({
  sessionId: uuid.optional(),
  status: z.union([RunStatus, z.array(RunStatus).min(1)]).optional(),
  /** Runs in any of these lanes (all when omitted). */
  lanes: z.array(Lane).min(1).max(4).optional(),
  kind: identifier.optional(),
  workerId: z.string().min(1).max(200).optional(),
  /** Case-insensitive text in the kind, params, error or progress message. */
  search: z.string().trim().min(1).max(200).optional(),
  createdAfter: z.iso.datetime({ offset: true }).optional(),
  createdBefore: z.iso.datetime({ offset: true }).optional(),
})

/** `RunFilter` under the name the clients' input checks know it by. */
export const RunFilterInput = RunFilter

/** Most runs a count reads (a count beyond says `capped`): bounds the scan of a broad text search. */
export const MAX_RUN_COUNT = 1_000_000

export const CountRunsInput = RunFilter.extend({
  /** Stop counting here (`capped: true`). Default 100,000. */
  max: z.number().int().min(1).max(MAX_RUN_COUNT).default(100_000),
})

/** How many runs match a filter; `capped` when there are more than `max` (then `count` is `max`). */
export const RunCount = z.object({ count: z.number().int(), capped: z.boolean() })

/** Cancel every queued or running run matching a filter, in one transaction (`ops.cancel_matching`). */
export const CancelMatchingInput = z.strictObject({
  filter: RunFilter,
  reason: z.string().max(1000).optional(),
  /** Most runs changed by one call (newest first); more matching means `capped`. Default MAX_BULK_RUNS. */
  max: z.number().int().min(1).max(MAX_BULK_RUNS).default(MAX_BULK_RUNS),
})

/** Retry every failed or cancelled run matching a filter, in one transaction (`ops.retry_matching`). */
export const RetryMatchingInput = z.strictObject({
  filter: RunFilter,
  /** Most runs changed by one call (newest first); more matching means `capped`. Default MAX_BULK_RUNS. */
  max: z.number().int().min(1).max(MAX_BULK_RUNS).default(MAX_BULK_RUNS),
})

/** What a bulk action over a filter did: all of it, or nothing (it threw). */
export const BulkRunsResult = z.object({
  /** Matching runs in a status the action applies to (at most `max`). */
  seen: z.number().int(),
  /** Those it changed (a run that finished meanwhile is seen, not changed). */
  changed: z.number().int(),
  /** More matched than `max`: run it again for the rest. */
  capped: z.boolean(),
})

/** Which history `stats.laneHistory` rebuilds (`ops.lane_history`). */
export const LaneHistoryInput = z.strictObject({
  /** One session's runs; every run when omitted. */
  sessionId: uuid.optional(),
  /** How far back, in seconds (60 to 86,400). Default 900. */
  windowSeconds: z.number().int().min(60).max(86_400).default(900),
  /** Buckets the window is split into (1 to 240). Default 60. */
  buckets: z.number().int().min(1).max(240).default(60),
})

const perBucket = z.array(z.number().int())

/**
 * Queue depth per lane and throughput over the last window, rebuilt by the database from the runs'
 * timestamps. Bucket `i` covers `[at - windowSeconds + i·w, … + w)`, `w = windowSeconds / buckets`;
 * `queued` is the depth at its end (so the last equals the live queued count), `finished` and
 * `failed` what finished within it. A run that went back to the queue and was claimed again since
 * shows only its first wait.
 */
export const LaneHistory = z.object({
  /** The database's clock: the end of the last bucket. */
  at: timestamp,
  windowSeconds: z.number().int(),
  buckets: z.number().int(),
  queued: z.object({ A: perBucket, B: perBucket, C: perBucket, D: perBucket }),
  finished: perBucket,
  failed: perBucket,
})

/** What `stats.session` aggregates, and over which window. */
export const SessionStatsInput = z.strictObject({
  /** One session's runs; every run when omitted. */
  sessionId: uuid.optional(),
  /** Throughput and error rate count runs finished within this many seconds. Default 300. */
  windowSeconds: z.number().int().min(1).max(86_400).default(300),
  /** Also split the window into this many buckets of finished/failed runs (for charts). Default 0. */
  buckets: z.number().int().min(0).max(120).default(0),
})

export const StatusCounts = z.object({
  queued: z.number().int(),
  running: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
})

/** True counts, computed by the database (`ops.session_stats`), whatever the session's size. */
export const SessionStats = z.object({
  sessionId: uuid.nullable(),
  /** The database's clock when it counted. */
  at: timestamp,
  windowSeconds: z.number().int(),
  total: z.number().int(),
  byStatus: StatusCounts,
  lanes: z.object({ A: StatusCounts, B: StatusCounts, C: StatusCounts, D: StatusCounts }),
  /** Runs that finished (any terminal status) within the window. */
  finishedInWindow: z.number().int(),
  failedInWindow: z.number().int(),
  /** finishedInWindow per minute of the window. */
  throughputPerMinute: z.number(),
  /** failedInWindow / finishedInWindow, or null when none finished. */
  errorRate: z.number().nullable(),
  /** Oldest first; empty unless `buckets` was asked for. */
  series: z.array(z.object({ start: timestamp, finished: z.number().int(), failed: z.number().int() })),
})

export const RetryRunsInput = z.strictObject({
  ids: z.array(uuid).min(1).max(10_000),
  /** Not claimable before this time; now when omitted. */
  runAt: z.iso.datetime({ offset: true }).optional(),
})

export const CancelRunsInput = z.strictObject({
  ids: z.array(uuid).min(1).max(10_000),
  reason: z.string().max(1000).optional(),
})

export const ListEventsInput = z.strictObject({
  runId: uuid,
  /** Events with a larger id (for tailing). */
  afterId: z.number().int().min(0).optional(),
  levels: z.array(EventLevel).min(1).optional(),
  limit: z.number().int().min(1).max(10_000).default(1000),
})

export const ListArtifactsInput = z.strictObject({ runId: uuid })
export const GetArtifactInput = z.strictObject({ id: uuid })

export const CreateTemplateInput = z.strictObject({
  name: identifier,
  kind: identifier,
  lane: Lane.optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  description: z.string().max(10_000).optional(),
  defaultParams: Params.optional(),
  /** A JSON Schema (draft 2020-12 or 7) that enqueued params must satisfy. */
  paramsSchema: jsonObject.optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  timeoutSeconds: z.number().int().min(1).max(604_800).optional(),
})

export const GetTemplateInput = z.strictObject({
  name: identifier,
  /** Without a version, the latest. */
  version: z.number().int().min(1).optional(),
})

export const ListTemplatesInput = z.strictObject({
  name: identifier.optional(),
  /** Only the latest version of each name. */
  latestOnly: z.boolean().default(false),
})

export const EnqueueFromTemplateInput = z.strictObject({
  sessionId: uuid,
  name: identifier,
  version: z.number().int().min(1).optional(),
  params: Params.optional(),
  lane: Lane.optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  runAt: z.iso.datetime({ offset: true }).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
})

// Who may run what ------------------------------------------------------------------------------------

/**
 * Which roles (and optionally which users or JWT claims) may enqueue runs of one kind. A kind without
 * a policy can be enqueued by `service_role` only; `'*'` applies to every kind.
 */
export const KindPolicy = z.object({
  kind: z.string(),
  roles: z.array(z.string()),
  userIds: z.array(uuid).nullable(),
  claims: jsonObject.nullable(),
  description: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
})

export const SetKindPolicyInput = z.strictObject({
  /** A kind, or `'*'` for every kind. */
  kind: z.union([identifier, z.literal('*')]),
  /** Database roles allowed to enqueue it, e.g. `['authenticated']`. */
  roles: z
    .array(z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a database role name'))
    .min(1)
    .max(20),
  /** Only these users (the JWT's `sub`); any user of those roles when omitted. */
  userIds: z.array(uuid).max(10_000).optional(),
  /** Only callers whose JWT claims contain this object (JSON containment, `@>`). */
  claims: jsonObject.optional(),
  description: z.string().max(1000).optional(),
})

export const DeleteKindPolicyInput = z.strictObject({ kind: z.union([identifier, z.literal('*')]) })

// The worker's side ---------------------------------------------------------------------------------

const workerId = z.string().min(1).max(200)

export const ClaimRunsInput = z.strictObject({
  workerId,
  /** How many runs to claim at most per lane. Lanes not named are not claimed. */
  lanes: z.partialRecord(Lane, z.number().int().min(0).max(1000)),
  /** Only runs of these kinds (the kinds this worker has handlers for). */
  kinds: z.array(identifier).min(1).max(1000).optional(),
})

export const WorkerRegistration = z.strictObject({
  host: z.string().max(255).optional(),
  pid: z.number().int().optional(),
  lanes: z.array(Lane).optional(),
  kinds: z.array(z.string()).optional(),
  concurrency: jsonObject.optional(),
  version: z.string().max(100).optional(),
  metadata: jsonObject.optional(),
  stopping: z.boolean().optional(),
})

/** A lease: a decimal integer issued by a claim (`Run.lease`). */
/** A lease as the API carries it: the decimal digits of the bigint a claim drew. */
export const LEASE_PATTERN = /^[0-9]{1,19}$/
export const Lease = z.string().regex(LEASE_PATTERN, 'a lease is the decimal number a claim issued')

/** One execution a worker holds: the run and the lease its claim issued. */
export const HeldRun = z.strictObject({ id: uuid, lease: Lease })

export const HeartbeatInput = z.strictObject({
  workerId,
  runs: z.array(HeldRun).max(10_000),
  info: WorkerRegistration.optional(),
})

export const HeartbeatResult = z.object({
  /** Held runs whose cancel was requested: abort them, then ack. */
  cancel: z.array(HeldRun),
  /** Held runs whose lease is no longer current (recovered, settled, or claimed again): abort them. */
  lost: z.array(HeldRun),
})

export const CompleteRunsInput = z.strictObject({
  workerId,
  results: z
    .array(z.strictObject({ id: uuid, lease: Lease, result: z.unknown().optional() }))
    .min(1)
    .max(10_000),
  /**
   * `runs` (the default): each completed run as stored. `changes`: only its `RunChanges`, a third of
   * the row, for a caller that holds the run it claimed (the worker does).
   */
  returning: z.enum(['runs', 'changes']).optional(),
})

export const FailRunsInput = z.strictObject({
  workerId,
  failures: z
    .array(
      z.strictObject({
        id: uuid,
        lease: Lease,
        error: ErrorInfo,
        /** false: fail now even if attempts remain. */
        retry: z.boolean().optional(),
        /** Overrides the exponential backoff. */
        retryDelayMs: z.number().int().min(0).max(86_400_000).optional(),
      }),
    )
    .min(1)
    .max(10_000),
})

export const AckCancelInput = z.strictObject({
  workerId,
  runs: z.array(HeldRun).min(1).max(10_000),
  note: z.string().max(1000).optional(),
})

export const ReleaseRunsInput = z.strictObject({
  workerId,
  runs: z.array(HeldRun).min(1).max(10_000),
  reason: z.string().max(1000).optional(),
})

export const RecoverStuckRunsInput = z.strictObject({
  timeoutSeconds: z.number().int().min(1).max(86_400).default(30),
  limit: z.number().int().min(1).max(10_000).default(1000),
})

export const QueueStatsInput = z.strictObject({
  /** The window for finished runs, recoveries and recently stopped workers. Default 300 s. */
  windowSeconds: z.number().int().min(1).max(604_800).default(300),
})

export const UpdateProgressInput = z.strictObject({
  workerId,
  updates: z
    .array(
      z.strictObject({
        id: uuid,
        lease: Lease,
        progress: z.number().min(0).max(1),
        message: z.string().max(500).optional(),
      }),
    )
    .min(1)
    .max(10_000),
})

export const NewEvent = z.strictObject({
  runId: uuid,
  /** The writer's lease: the event is stored only while it is the run's current one. */
  lease: Lease.optional(),
  level: EventLevel.default('info'),
  type: identifier.default('log'),
  message: z.string().max(16_384),
  data: z.unknown().optional(),
  /** When it happened (ISO 8601); defaults to when it is stored. */
  at: z.iso.datetime({ offset: true }).optional(),
})

export const AppendEventsInput = z.strictObject({ events: z.array(NewEvent).min(1).max(10_000) })

export const NewArtifact = z
  .strictObject({
    runId: uuid,
    /** The writer's lease: refused (`lease_lost`) unless it is the run's current one. */
    lease: Lease.optional(),
    name: ArtifactName,
    kind: ArtifactKind,
    contentType: ContentType.optional(),
    size: z.number().int().min(0).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    storagePath: z.string().min(1).max(1024).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    text: z.string().max(1_048_576).optional(),
    metadata: jsonObject.optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.kind === 'file' && (!a.storagePath || a.size === undefined || !a.sha256)) {
      ctx.addIssue({ code: 'custom', message: 'a file artifact needs storagePath, size and sha256' })
    }
    if (a.kind === 'link' && !a.url) ctx.addIssue({ code: 'custom', message: 'a link artifact needs url' })
    if (a.kind === 'text' && a.text === undefined)
      ctx.addIssue({ code: 'custom', message: 'a text artifact needs text' })
  })

export const CreateArtifactsInput = z.strictObject({ artifacts: z.array(NewArtifact).min(1).max(1000) })

// Live changes ---------------------------------------------------------------------------------------

/** What `watch` delivers: small notifications; read the rows you need after one. */
export const Change = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run'), id: uuid, sessionId: uuid, status: RunStatus, lane: Lane }),
  z.object({ type: z.literal('queued'), lane: Lane }),
  z.object({
    type: z.literal('cancel'),
    runId: uuid,
    workerId: z.string().nullable(),
    lease: z.string().nullable().optional(),
  }),
  z.object({
    type: z.literal('events'),
    runIds: z.array(uuid),
    /** On a digest stream: more runs got events than are listed; a run's log may have grown. */
    truncated: z.boolean().optional(),
  }),
  /**
   * Run changes of one session folded over a short window (a stream opened with `digestMs`): which
   * lanes and statuses were touched, how many changes, and the run ids unless there were many (null).
   */
  z.object({
    type: z.literal('runs'),
    sessionId: uuid,
    lanes: z.array(Lane),
    statuses: z.array(RunStatus),
    count: z.number().int(),
    ids: z.array(uuid).nullable(),
  }),
])

export type Lane = z.infer<typeof Lane>
export type RunStatus = z.infer<typeof RunStatus>
export type EventLevel = z.infer<typeof EventLevel>
export type ArtifactKind = z.infer<typeof ArtifactKind>
export type ErrorInfo = z.infer<typeof ErrorInfo>
export type Session = z.infer<typeof Session>
export type Run = z.infer<typeof Run>
export type RunChanges = z.infer<typeof RunChanges>
export type RunEvent = z.infer<typeof RunEvent>
export type Artifact = z.infer<typeof Artifact>
export type RunTemplate = z.infer<typeof RunTemplate>
export type WorkerInfo = z.infer<typeof WorkerInfo>
export type QueueStats = z.infer<typeof QueueStats>
export type KindPolicy = z.infer<typeof KindPolicy>
export type SetKindPolicyInput = z.input<typeof SetKindPolicyInput>
export type DeleteKindPolicyInput = z.input<typeof DeleteKindPolicyInput>
export type RunSpec = z.input<typeof RunSpec>
export type CreateSessionInput = z.input<typeof CreateSessionInput>
export type ListSessionsInput = z.input<typeof ListSessionsInput>
export type EnqueueRunsInput = z.input<typeof EnqueueRunsInput>
export type ListRunsInput = z.input<typeof ListRunsInput>
export type CancelRunsInput = z.input<typeof CancelRunsInput>
export type SessionStatsInput = z.input<typeof SessionStatsInput>
export type StatusCounts = z.infer<typeof StatusCounts>
export type SessionStats = z.infer<typeof SessionStats>
export type RetryRunsInput = z.input<typeof RetryRunsInput>
export type RunFilter = z.input<typeof RunFilter>
export type CountRunsInput = z.input<typeof CountRunsInput>
export type RunCount = z.infer<typeof RunCount>
export type CancelMatchingInput = z.input<typeof CancelMatchingInput>
export type RetryMatchingInput = z.input<typeof RetryMatchingInput>
export type BulkRunsResult = z.infer<typeof BulkRunsResult>
export type LaneHistoryInput = z.input<typeof LaneHistoryInput>
export type LaneHistory = z.infer<typeof LaneHistory>
export type ListEventsInput = z.input<typeof ListEventsInput>
export type ListArtifactsInput = z.input<typeof ListArtifactsInput>
export type CreateTemplateInput = z.input<typeof CreateTemplateInput>
export type GetTemplateInput = z.input<typeof GetTemplateInput>
export type ListTemplatesInput = z.input<typeof ListTemplatesInput>
export type EnqueueFromTemplateInput = z.input<typeof EnqueueFromTemplateInput>
export type ClaimRunsInput = z.input<typeof ClaimRunsInput>
export type WorkerRegistration = z.input<typeof WorkerRegistration>
export type Lease = z.infer<typeof Lease>
export type HeldRun = z.infer<typeof HeldRun>
export type HeartbeatInput = z.input<typeof HeartbeatInput>
export type HeartbeatResult = z.infer<typeof HeartbeatResult>
export type CompleteRunsInput = z.input<typeof CompleteRunsInput>
export type FailRunsInput = z.input<typeof FailRunsInput>
export type AckCancelInput = z.input<typeof AckCancelInput>
export type ReleaseRunsInput = z.input<typeof ReleaseRunsInput>
export type RecoverStuckRunsInput = z.input<typeof RecoverStuckRunsInput>
export type QueueStatsInput = z.input<typeof QueueStatsInput>
export type UpdateProgressInput = z.input<typeof UpdateProgressInput>
export type NewEvent = z.input<typeof NewEvent>
export type AppendEventsInput = z.input<typeof AppendEventsInput>
export type NewArtifact = z.input<typeof NewArtifact>
export type CreateArtifactsInput = z.input<typeof CreateArtifactsInput>
export type Change = z.infer<typeof Change>
