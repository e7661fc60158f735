import type * as C from './contract'

/**
 * Maps database rows (snake_case, as PostgreSQL, PostgREST and supabase-js return them) to the
 * contract's camelCase entities. Shared by every backend that reads rows.
 */
type Row = Record<string, unknown>

// PostgreSQL's text form of a UTC timestamptz ('2026-11-30 14:55:01.123456+00', as postgresBackend
// reads it), or a Date. The text is turned into Date#toISOString's form directly: a worker maps
// thousands of timestamps a second, and building a Date for each, then its string, was a tenth of
// its CPU. Fractions beyond milliseconds are cut, as Date does; any other form goes through Date.
//
// Most timestamps of a batch are equal (a claim's `now()` is its claimed_at, started_at, heartbeat_at
// and updated_at for every run it took), so the last conversions are kept: a hit allocates nothing.
const PG_UTC = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?\+00$/
const ISO_MEMO_SIZE = 64
const isoMemo = new Map<string, string>()
const iso = (v: unknown): string => {
  if (typeof v === 'string' && v.length <= 29) {
    const known = isoMemo.get(v)
    if (known !== undefined) return known
    if (PG_UTC.test(v)) {
      const fraction = v.length > 22 ? v.slice(20, -3) : ''
      const out = `${v.slice(0, 10)}T${v.slice(11, 19)}.${`${fraction}000`.slice(0, 3)}Z`
      if (isoMemo.size >= ISO_MEMO_SIZE) isoMemo.clear()
      isoMemo.set(v, out)
      return out
    }
  }
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString()
}
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v))
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' ? (v as Record<string, unknown>) : {}

export function toSession(r: Row): C.Session {
  return {
    id: String(r.id),
    name: String(r.name),
    description: str(r.description),
    metadata: obj(r.metadata),
    createdBy: str(r.created_by),
    createdAt: iso(r.created_at),
  }
}

export function toRun(r: Row): C.Run {
  return {
    id: String(r.id),
    seq: Number(r.seq),
    sessionId: String(r.session_id),
    kind: String(r.kind),
    lane: r.lane as C.Lane,
    priority: Number(r.priority),
    params: obj(r.params),
    status: r.status as C.RunStatus,
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    timeoutSeconds: num(r.timeout_seconds),
    runAt: iso(r.run_at),
    idempotencyKey: str(r.idempotency_key),
    templateName: str(r.template_name),
    templateVersion: num(r.template_version),
    workerId: str(r.worker_id),
    claimedAt: isoOrNull(r.claimed_at),
    heartbeatAt: isoOrNull(r.heartbeat_at),
    startedAt: isoOrNull(r.started_at),
    finishedAt: isoOrNull(r.finished_at),
    cancelRequestedAt: isoOrNull(r.cancel_requested_at),
    cancelReason: str(r.cancel_reason),
    progress: num(r.progress),
    progressMessage: str(r.progress_message),
    result: r.result === undefined ? null : r.result,
    error: (r.error as C.ErrorInfo | null) ?? null,
    createdBy: str(r.created_by),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    lease: r.lease === null || r.lease === undefined ? null : String(r.lease),
  }
}

/** The fields of `RunChanges`, from a row that has at least those columns. */
export function toRunChanges(r: Row): C.RunChanges {
  return {
    id: String(r.id),
    lease: r.lease === null || r.lease === undefined ? null : String(r.lease),
    status: r.status as C.RunStatus,
    result: r.result === undefined ? null : r.result,
    error: (r.error as C.ErrorInfo | null) ?? null,
    finishedAt: isoOrNull(r.finished_at),
    updatedAt: iso(r.updated_at),
    heartbeatAt: isoOrNull(r.heartbeat_at),
    cancelRequestedAt: isoOrNull(r.cancel_requested_at),
    cancelReason: str(r.cancel_reason),
    progress: num(r.progress),
    progressMessage: str(r.progress_message),
  }
}

/**
 * The columns of a run, in the order `toRunFromValues` reads them: a claim reads its rows as arrays
 * in this order (`.values()`), which spares the driver building an object of 30 keys per row.
 */
export const RUN_COLUMNS = [
  'id',
  'seq',
  'session_id',
  'kind',
  'lane',
  'priority',
  'params',
  'status',
  'attempt',
  'max_attempts',
  'timeout_seconds',
  'run_at',
  'idempotency_key',
  'template_name',
  'template_version',
  'worker_id',
  'claimed_at',
  'heartbeat_at',
  'started_at',
  'finished_at',
  'cancel_requested_at',
  'cancel_reason',
  'progress',
  'progress_message',
  'result',
  'error',
  'created_by',
  'created_at',
  'updated_at',
  'lease',
] as const

/** A run from a row read as an array of `RUN_COLUMNS`, in that order. */
export function toRunFromValues(v: readonly unknown[]): C.Run {
  return {
    id: String(v[0]),
    seq: Number(v[1]),
    sessionId: String(v[2]),
    kind: String(v[3]),
    lane: v[4] as C.Lane,
    priority: Number(v[5]),
    params: obj(v[6]),
    status: v[7] as C.RunStatus,
    attempt: Number(v[8]),
    maxAttempts: Number(v[9]),
    timeoutSeconds: num(v[10]),
    runAt: iso(v[11]),
    idempotencyKey: str(v[12]),
    templateName: str(v[13]),
    templateVersion: num(v[14]),
    workerId: str(v[15]),
    claimedAt: isoOrNull(v[16]),
    heartbeatAt: isoOrNull(v[17]),
    startedAt: isoOrNull(v[18]),
    finishedAt: isoOrNull(v[19]),
    cancelRequestedAt: isoOrNull(v[20]),
    cancelReason: str(v[21]),
    progress: num(v[22]),
    progressMessage: str(v[23]),
    result: v[24] === undefined ? null : v[24],
    error: (v[25] as C.ErrorInfo | null) ?? null,
    createdBy: str(v[26]),
    createdAt: iso(v[27]),
    updatedAt: iso(v[28]),
    lease: v[29] === null || v[29] === undefined ? null : String(v[29]),
  }
}

export function toRunEvent(r: Row): C.RunEvent {
  return {
    id: Number(r.id),
    runId: String(r.run_id),
    level: r.level as C.EventLevel,
    type: String(r.type),
    message: String(r.message),
    data: r.data ?? null,
    attempt: num(r.attempt),
    createdAt: iso(r.created_at),
  }
}

export function toArtifact(r: Row): C.Artifact {
  return {
    id: String(r.id),
    runId: String(r.run_id),
    name: String(r.name),
    kind: r.kind as C.ArtifactKind,
    contentType: String(r.content_type),
    size: num(r.size),
    sha256: str(r.sha256),
    storagePath: str(r.storage_path),
    url: str(r.url),
    text: str(r.text_content),
    metadata: obj(r.metadata),
    attempt: num(r.attempt),
    expiresAt: iso(r.expires_at),
    createdAt: iso(r.created_at),
  }
}

export function toTemplate(r: Row): C.RunTemplate {
  return {
    id: String(r.id),
    name: String(r.name),
    version: Number(r.version),
    kind: String(r.kind),
    lane: r.lane as C.Lane,
    priority: Number(r.priority),
    description: str(r.description),
    defaultParams: obj(r.default_params),
    paramsSchema: r.params_schema ? obj(r.params_schema) : null,
    maxAttempts: Number(r.max_attempts),
    timeoutSeconds: num(r.timeout_seconds),
    createdBy: str(r.created_by),
    createdAt: iso(r.created_at),
  }
}

export function toKindPolicy(r: Row): C.KindPolicy {
  const list = (v: unknown): string[] | null => (Array.isArray(v) ? v.map(String) : null)
  return {
    kind: String(r.kind),
    roles: list(r.roles) ?? [],
    userIds: list(r.user_ids),
    claims: r.claims ? obj(r.claims) : null,
    description: str(r.description),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  }
}

export function toWorker(r: Row): C.WorkerInfo {
  const arr = (v: unknown): string[] =>
    Array.isArray(v)
      ? v.map(String)
      : typeof v === 'string'
        ? v
            .replace(/^\{|\}$/g, '')
            .split(',')
            .filter(Boolean)
        : []
  return {
    id: String(r.id),
    host: str(r.host),
    pid: num(r.pid),
    lanes: arr(r.lanes) as C.Lane[],
    kinds: arr(r.kinds),
    concurrency: obj(r.concurrency),
    version: str(r.version),
    metadata: obj(r.metadata),
    startedAt: iso(r.started_at),
    lastSeenAt: iso(r.last_seen_at),
    stoppedAt: isoOrNull(r.stopped_at),
  }
}

/** Parses a NOTIFY payload from the `ops_*` channels into changes. Unknown payloads yield nothing. */
export function changesFromNotification(channel: string, payload: string): C.Change[] {
  try {
    switch (channel) {
      case 'ops_runs_queued':
        return ['A', 'B', 'C', 'D'].includes(payload) ? [{ type: 'queued', lane: payload as C.Lane }] : []
      case 'ops_cancel': {
        const p = JSON.parse(payload) as { id: string; worker_id: string | null; lease?: string | null }
        return [{ type: 'cancel', runId: p.id, workerId: p.worker_id ?? null, lease: p.lease ?? null }]
      }
      case 'ops_run_changes': {
        const p = JSON.parse(payload) as {
          runs: { id: string; session_id: string; status: C.RunStatus; lane: C.Lane }[]
        }
        return p.runs.map((r) => ({
          type: 'run',
          id: r.id,
          sessionId: r.session_id,
          status: r.status,
          lane: r.lane,
        }))
      }
      case 'ops_run_events': {
        const p = JSON.parse(payload) as { run_ids: string[] }
        return [{ type: 'events', runIds: p.run_ids }]
      }
      default:
        return []
    }
  } catch {
    return []
  }
}

/** The NOTIFY channels the migrations use. */
export const NOTIFY_CHANNELS = ['ops_runs_queued', 'ops_cancel', 'ops_run_changes', 'ops_run_events'] as const
