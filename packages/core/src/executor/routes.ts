/**
 * The executor API's routes: one table read by the handler (dispatch, validation) and by the OpenAPI
 * generator, so the document cannot drift from what the handler does. Web-standard: no I/O here.
 */
import { z } from 'zod'
import * as C from '../contract'
import { OPS_ERROR_CODES } from '../errors'

/** The JWT roles the executor accepts (Supabase's API roles). */
export const API_ROLES = ['anon', 'authenticated', 'service_role'] as const
export type ApiRole = (typeof API_ROLES)[number]

/** Asks for a signed URL to upload one file artifact's content to. */
export const UploadUrlInput = z.strictObject({
  runId: C.Run.shape.id,
  name: C.ArtifactName,
  contentType: C.ContentType.optional(),
  /** Announced size in bytes; the upload is refused beyond it (and beyond the store's limit). */
  size: z.number().int().min(0).optional(),
  expiresInSeconds: z.number().int().min(10).max(86_400).default(900),
})

export const UploadUrl = z.object({
  /** PUT the content here, with `headers`. */
  url: z.string(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  /** Pass this to createArtifacts (kind 'file') once the upload finished. */
  storagePath: z.string(),
  expiresAt: z.string(),
})

/** What a PUT to an upload URL answers. */
export const UploadedContent = z.object({
  storagePath: z.string(),
  size: z.number().int(),
  sha256: z.string(),
})

export const DownloadUrlInput = z
  .strictObject({
    id: C.Run.shape.id.optional(),
    storagePath: z.string().min(1).max(1024).optional(),
    expiresInSeconds: z.number().int().min(10).max(86_400).default(900),
  })
  .refine((v) => (v.id === undefined) !== (v.storagePath === undefined), 'give either id or storagePath')

export const DownloadUrl = z.object({ url: z.string(), expiresAt: z.string() })

export const DeleteContentInput = z.strictObject({
  storagePaths: z.array(z.string().min(1).max(1024)).min(1).max(1000),
})

export const PurgeArtifactsInput = z.strictObject({
  limit: z.number().int().min(1).max(10_000).default(1000),
})
export const PurgeResult = z.object({ purged: z.number().int(), storagePaths: z.array(z.string()) })

export const ChangesInput = z.strictObject({
  sessionId: C.Run.shape.id.optional(),
  /** Fold run changes into one `runs` digest per session per this many ms (dashboards at scale). */
  digestMs: z.number().int().min(50).max(10_000).optional(),
})

export const Health = z.object({ ok: z.boolean(), database: z.enum(['up', 'down']), version: z.string() })
export const Count = z.object({ count: z.number().int() })
export const IdParam = z.strictObject({ id: C.Run.shape.id })

/** The one error shape of every non-2xx answer. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(OPS_ERROR_CODES),
    message: z.string(),
    details: z.unknown().optional(),
  }),
})

export interface RouteDef {
  /** Stable operation id (also the OpenAPI operationId). */
  readonly id: string
  readonly method: 'GET' | 'POST'
  /** OpenAPI-style path: `/runs/{id}`. */
  readonly path: string
  readonly summary: string
  /** Where the input comes from: the JSON body, the query string, or nothing. Path params join it. */
  readonly source: 'body' | 'query' | 'none'
  readonly input?: z.ZodType
  /** Which path parameter fills which input field (`{ id: 'runId' }`). */
  readonly pathParams?: Readonly<Record<string, string>>
  readonly response: z.ZodType
  readonly status: 200 | 201
  /**
   * The roles whose database grants allow this. The handler refuses other roles before it reads the
   * body; the database enforces the grants again.
   */
  readonly roles: readonly ApiRole[]
  /** Reads only: runs in a READ ONLY transaction. */
  readonly readOnly: boolean
  readonly tag: string
}

const ALL: readonly ApiRole[] = API_ROLES
const USERS: readonly ApiRole[] = ['authenticated', 'service_role']
const SERVICE: readonly ApiRole[] = ['service_role']

const route = (r: RouteDef): RouteDef => r

/** Every route of the executor API, in documentation order. */
export const ROUTES: readonly RouteDef[] = [
  route({
    id: 'health',
    method: 'GET',
    path: '/health',
    summary: 'Whether the API and its database are up (no token needed).',
    source: 'none',
    response: Health,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'meta',
  }),
  route({
    id: 'createSession',
    method: 'POST',
    path: '/sessions',
    summary: 'Creates a session.',
    source: 'body',
    input: C.CreateSessionInput,
    response: C.Session,
    status: 201,
    roles: USERS,
    readOnly: false,
    tag: 'sessions',
  }),
  route({
    id: 'listSessions',
    method: 'GET',
    path: '/sessions',
    summary: 'Lists sessions, newest first.',
    source: 'query',
    // The driver serialises `before` as a timestamp: an unparseable one must be a 400, not a driver error.
    input: C.ListSessionsInput.refine((v) => v.before === undefined || !Number.isNaN(Date.parse(v.before)), {
      path: ['before'],
      message: 'before must be an ISO 8601 timestamp',
    }),
    response: z.array(C.Session),
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'sessions',
  }),
  route({
    id: 'getSession',
    method: 'GET',
    path: '/sessions/{id}',
    summary: 'Reads one session.',
    source: 'none',
    input: IdParam,
    pathParams: { id: 'id' },
    response: C.Session,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'sessions',
  }),
  route({
    id: 'enqueueRuns',
    method: 'POST',
    path: '/runs',
    summary: 'Enqueues runs into a session in one transaction; returns them in input order.',
    source: 'body',
    input: C.EnqueueRunsInput,
    response: z.array(C.Run),
    status: 201,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'enqueueFromTemplate',
    method: 'POST',
    path: '/runs/from-template',
    summary:
      'Enqueues one run from a template; params are merged over its defaults and checked against its schema.',
    source: 'body',
    input: C.EnqueueFromTemplateInput,
    response: C.Run,
    status: 201,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'listRuns',
    method: 'GET',
    path: '/runs',
    summary: 'Lists runs: newest first, or oldest first after `afterSeq`. Repeat `status` for several.',
    source: 'query',
    input: C.ListRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'runs',
  }),
  route({
    id: 'getRun',
    method: 'GET',
    path: '/runs/{id}',
    summary: 'Reads one run.',
    source: 'none',
    input: IdParam,
    pathParams: { id: 'id' },
    response: C.Run,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'runs',
  }),
  route({
    id: 'cancelRuns',
    method: 'POST',
    path: '/runs/cancel',
    summary:
      'Requests cancellation (queued: at once; running: the worker is told). Unknown ids are left out.',
    source: 'body',
    input: C.CancelRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'listEvents',
    method: 'GET',
    path: '/runs/{id}/events',
    summary: "Lists a run's events in order (tail with `afterId`).",
    source: 'query',
    input: C.ListEventsInput,
    pathParams: { id: 'runId' },
    response: z.array(C.RunEvent),
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'events',
  }),
  route({
    id: 'appendEvents',
    method: 'POST',
    path: '/events',
    summary: 'Appends events to runs (workers).',
    source: 'body',
    input: C.AppendEventsInput,
    response: Count,
    status: 201,
    roles: SERVICE,
    readOnly: false,
    tag: 'events',
  }),
  route({
    id: 'listArtifacts',
    method: 'GET',
    path: '/runs/{id}/artifacts',
    summary: "Lists a run's artifacts.",
    source: 'none',
    input: C.ListArtifactsInput,
    pathParams: { id: 'runId' },
    response: z.array(C.Artifact),
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'artifacts',
  }),
  route({
    id: 'getArtifact',
    method: 'GET',
    path: '/artifacts/{id}',
    summary: 'Reads one artifact record.',
    source: 'none',
    input: IdParam,
    pathParams: { id: 'id' },
    response: C.Artifact,
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'artifacts',
  }),
  route({
    id: 'createArtifacts',
    method: 'POST',
    path: '/artifacts',
    summary:
      'Records artifacts. A file artifact confirms an upload: its size and sha256 must match the stored content.',
    source: 'body',
    input: C.CreateArtifactsInput,
    response: z.array(C.Artifact),
    status: 201,
    roles: SERVICE,
    readOnly: false,
    tag: 'artifacts',
  }),
  route({
    id: 'createUploadUrl',
    method: 'POST',
    path: '/artifacts/upload-url',
    summary: "A signed, expiring URL to PUT one file's content to.",
    source: 'body',
    input: UploadUrlInput,
    response: UploadUrl,
    status: 201,
    roles: SERVICE,
    readOnly: true,
    tag: 'artifacts',
  }),
  route({
    id: 'createDownloadUrl',
    method: 'GET',
    path: '/artifacts/download-url',
    summary: "A signed, expiring URL to download a file artifact's content from (by id or storagePath).",
    source: 'query',
    input: DownloadUrlInput,
    response: DownloadUrl,
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'artifacts',
  }),
  route({
    id: 'deleteArtifactContent',
    method: 'POST',
    path: '/artifacts/delete-content',
    summary: 'Deletes uploaded content that no artifact records (an upload whose confirmation failed).',
    source: 'body',
    input: DeleteContentInput,
    response: Count,
    status: 200,
    roles: SERVICE,
    readOnly: true,
    tag: 'artifacts',
  }),
  route({
    id: 'purgeArtifacts',
    method: 'POST',
    path: '/artifacts/purge',
    summary: 'Deletes expired artifacts: their records, then their stored content (the sweeper calls this).',
    source: 'body',
    input: PurgeArtifactsInput,
    response: PurgeResult,
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'artifacts',
  }),
  route({
    id: 'createTemplate',
    method: 'POST',
    path: '/templates',
    summary: 'Creates the next version of a template (version 1 for a new name).',
    source: 'body',
    input: C.CreateTemplateInput,
    response: C.RunTemplate,
    status: 201,
    roles: SERVICE,
    readOnly: false,
    tag: 'templates',
  }),
  route({
    id: 'listTemplates',
    method: 'GET',
    path: '/templates',
    summary: 'Lists templates (every version, or `latestOnly`).',
    source: 'query',
    input: C.ListTemplatesInput,
    response: z.array(C.RunTemplate),
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'templates',
  }),
  route({
    id: 'getTemplate',
    method: 'GET',
    path: '/templates/{name}',
    summary: 'Reads a template: the given `version`, or the latest.',
    source: 'query',
    input: C.GetTemplateInput,
    pathParams: { name: 'name' },
    response: C.RunTemplate,
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'templates',
  }),
  route({
    id: 'listWorkers',
    method: 'GET',
    path: '/workers',
    summary: 'Lists workers, most recently seen first.',
    source: 'none',
    response: z.array(C.WorkerInfo),
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'workers',
  }),
  route({
    id: 'queueStats',
    method: 'GET',
    path: '/stats',
    summary:
      'The queue now and in the last window: queued/running per lane and kind, error rate, recoveries, worker health.',
    source: 'query',
    input: C.QueueStatsInput,
    response: C.QueueStats,
    status: 200,
    roles: USERS,
    readOnly: true,
    tag: 'workers',
  }),
  route({
    id: 'setKindPolicy',
    method: 'POST',
    path: '/kind-policies',
    summary: 'Creates or replaces who may enqueue one kind (a kind without a policy is service_role-only).',
    source: 'body',
    input: C.SetKindPolicyInput,
    response: C.KindPolicy,
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'policies',
  }),
  route({
    id: 'listKindPolicies',
    method: 'GET',
    path: '/kind-policies',
    summary: 'Lists the kind policies.',
    source: 'none',
    response: z.array(C.KindPolicy),
    status: 200,
    roles: SERVICE,
    readOnly: true,
    tag: 'policies',
  }),
  route({
    id: 'deleteKindPolicy',
    method: 'POST',
    path: '/kind-policies/delete',
    summary: "Removes one kind's policy: the kind becomes service_role-only.",
    source: 'body',
    input: C.DeleteKindPolicyInput,
    response: z.object({ deleted: z.boolean() }),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'policies',
  }),
  route({
    id: 'claimRuns',
    method: 'POST',
    path: '/worker/claim',
    summary: 'Atomically claims queued runs per lane (no run is claimed twice).',
    source: 'body',
    input: C.ClaimRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'heartbeat',
    method: 'POST',
    path: '/worker/heartbeat',
    summary: "Renews the lease of a worker's in-flight runs in one call; answers cancels and lost runs.",
    source: 'body',
    input: C.HeartbeatInput,
    response: C.HeartbeatResult,
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'completeRuns',
    method: 'POST',
    path: '/worker/complete',
    summary:
      "Marks runs succeeded with their results; answers the runs, or with `returning: 'changes'` only what changed.",
    source: 'body',
    input: C.CompleteRunsInput,
    response: z.union([z.array(C.Run), z.array(C.RunChanges)]),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'failRuns',
    method: 'POST',
    path: '/worker/fail',
    summary: 'Fails runs (retried with backoff while attempts remain).',
    source: 'body',
    input: C.FailRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'ackCancel',
    method: 'POST',
    path: '/worker/ack-cancel',
    summary: 'Acknowledges cancels: the runs end as cancelled.',
    source: 'body',
    input: C.AckCancelInput,
    response: z.array(C.Run),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'releaseRuns',
    method: 'POST',
    path: '/worker/release',
    summary: 'Gives claimed runs back to the queue (a stopping worker).',
    source: 'body',
    input: C.ReleaseRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'updateProgress',
    method: 'POST',
    path: '/worker/progress',
    summary: "Updates runs' progress (0..1) and message.",
    source: 'body',
    input: C.UpdateProgressInput,
    response: Count,
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'recoverStuckRuns',
    method: 'POST',
    path: '/worker/recover',
    summary: 'Recovers runs whose heartbeats stopped (for schedulers such as pg_cron or a cron job).',
    source: 'body',
    input: C.RecoverStuckRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: SERVICE,
    readOnly: false,
    tag: 'worker',
  }),
  route({
    id: 'changes',
    method: 'GET',
    path: '/changes',
    summary:
      'Live changes as Server-Sent Events (`event: change`, JSON data), optionally of one session; resumes after `Last-Event-ID`; `event: reset` means some were missed.',
    source: 'query',
    input: ChangesInput,
    response: C.Change,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'changes',
  }),
  // Runboard (issue 17): aggregates and operator actions. -----------------------------------------
  route({
    id: 'sessionStats',
    method: 'GET',
    path: '/stats/session',
    summary:
      'Counts per lane and status, throughput and error rate of a session (or of every run), computed by the database.',
    source: 'query',
    input: C.SessionStatsInput,
    response: C.SessionStats,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'runs',
  }),
  route({
    id: 'retryRuns',
    method: 'POST',
    path: '/runs/retry',
    summary:
      'Retries failed or cancelled runs as a new attempt of the same run; others are returned unchanged, unknown ids left out.',
    source: 'body',
    input: C.RetryRunsInput,
    response: z.array(C.Run),
    status: 200,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'countRuns',
    method: 'GET',
    path: '/runs/count',
    summary: 'Counts the runs matching a filter (up to `max`), for bulk actions over every match.',
    source: 'query',
    input: C.CountRunsInput,
    response: C.RunCount,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'runs',
  }),
  route({
    id: 'cancelMatching',
    method: 'POST',
    path: '/runs/cancel-matching',
    summary:
      'Cancels every queued or running run matching a filter (newest first, at most `max`) in one transaction: all or nothing.',
    source: 'body',
    input: C.CancelMatchingInput,
    response: C.BulkRunsResult,
    status: 200,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'retryMatching',
    method: 'POST',
    path: '/runs/retry-matching',
    summary:
      'Retries every failed or cancelled run matching a filter (newest first, at most `max`) in one transaction: a kind the role may not retry refuses all.',
    source: 'body',
    input: C.RetryMatchingInput,
    response: C.BulkRunsResult,
    status: 200,
    roles: USERS,
    readOnly: false,
    tag: 'runs',
  }),
  route({
    id: 'laneHistory',
    method: 'GET',
    path: '/stats/lane-history',
    summary:
      'Queued runs per lane and runs finished/failed per bucket over the last window, of a session (or of every run), rebuilt by the database.',
    source: 'query',
    input: C.LaneHistoryInput,
    response: C.LaneHistory,
    status: 200,
    roles: ALL,
    readOnly: true,
    tag: 'runs',
  }),
]

/** Matches a path (already stripped of any prefix) against the route table. */
export function matchRoute(
  method: string,
  path: string,
): { route: RouteDef; params: Record<string, string> } | { allowed: string[] } | null {
  const segments = path.split('/').filter(Boolean)
  const matches: { route: RouteDef; params: Record<string, string>; literals: number }[] = []
  for (const route of ROUTES) {
    const pattern = route.path.split('/').filter(Boolean)
    if (pattern.length !== segments.length) continue
    const params: Record<string, string> = {}
    let literals = 0
    let ok = true
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i] as string
      const s = segments[i] as string
      if (p.startsWith('{')) {
        try {
          params[p.slice(1, -1)] = decodeURIComponent(s)
        } catch {
          ok = false
          break
        }
      } else if (p === s) literals++
      else {
        ok = false
        break
      }
    }
    if (ok) matches.push({ route, params, literals })
  }
  if (matches.length === 0) return null
  // Literal segments win over parameters: /runs/cancel is never /runs/{id}, whatever the method.
  const most = Math.max(...matches.map((m) => m.literals))
  const best = matches.filter((m) => m.literals === most)
  const hit = best.find((m) => m.route.method === method)
  if (hit) return { route: hit.route, params: hit.params }
  return { allowed: [...new Set(best.map((m) => m.route.method))] }
}
