import type { Backend } from '../backend'
import type * as C from '../contract'
import { isOpsError } from '../errors'

/** One call of the executor API. Resolves with the parsed JSON answer; rejects with an OpsError. */
export type ExecutorCall = (
  method: 'GET' | 'POST',
  path: string,
  options?: { body?: unknown; query?: Record<string, unknown> },
) => Promise<unknown>

/** The backend operations that are plain request/response calls of the executor API. */
export type RemoteOperations = Omit<Backend, 'kind' | 'subscribe' | 'tryWithLock' | 'ping' | 'close'>

/** Encodes a query: arrays repeat their key, undefined values are left out. */
export function toQueryString(query: Record<string, unknown> | undefined): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v))
    else params.append(key, String(value))
  }
  const s = params.toString()
  return s ? `?${s}` : ''
}

const enc = encodeURIComponent

/**
 * Maps every Backend operation to its executor API route over `call`. Shared by `httpBackend` (fetch)
 * and `supabaseBackend` (supabase-js `functions.invoke`), so the two cannot disagree on the API.
 */
export function createRemoteOperations(call: ExecutorCall): RemoteOperations {
  const orNull = async <T>(p: Promise<unknown>): Promise<T | null> => {
    try {
      return (await p) as T
    } catch (err) {
      if (isOpsError(err) && err.code === 'not_found') return null
      throw err
    }
  }
  const post = <T>(path: string, body: unknown) => call('POST', path, { body }) as Promise<T>
  const get = <T>(path: string, query?: Record<string, unknown>) => call('GET', path, { query }) as Promise<T>

  return {
    // The executor parses every request with the contract's schemas (createExecutorHandler).
    validatesInput: true,
    createSession: (input) => post<C.Session>('/sessions', input),
    getSession: (id) => orNull<C.Session>(get(`/sessions/${enc(id)}`)),
    listSessions: (input) => get<C.Session[]>('/sessions', input),
    enqueueRuns: (input) => post<C.Run[]>('/runs', input),
    getRun: (id) => orNull<C.Run>(get(`/runs/${enc(id)}`)),
    listRuns: (input) => get<C.Run[]>('/runs', input),
    cancelRuns: (input) => post<C.Run[]>('/runs/cancel', input),
    retryRuns: (input) => post<C.Run[]>('/runs/retry', input),
    sessionStats: (input) => get<C.SessionStats>('/stats/session', input),
    countRuns: (input) => get<C.RunCount>('/runs/count', input),
    cancelMatching: (input) => post<C.BulkRunsResult>('/runs/cancel-matching', input),
    retryMatching: (input) => post<C.BulkRunsResult>('/runs/retry-matching', input),
    laneHistory: (input) => get<C.LaneHistory>('/stats/lane-history', input),
    listEvents: ({ runId, ...query }) => get<C.RunEvent[]>(`/runs/${enc(runId)}/events`, query),
    listArtifacts: ({ runId }) => get<C.Artifact[]>(`/runs/${enc(runId)}/artifacts`),
    getArtifact: (id) => orNull<C.Artifact>(get(`/artifacts/${enc(id)}`)),
    createTemplate: (input) => post<C.RunTemplate>('/templates', input),
    getTemplate: ({ name, ...query }) => orNull<C.RunTemplate>(get(`/templates/${enc(name)}`, query)),
    listTemplates: (input) => get<C.RunTemplate[]>('/templates', input),
    listWorkers: () => get<C.WorkerInfo[]>('/workers'),
    queueStats: (input) => get<C.QueueStats>('/stats', input),
    setKindPolicy: (input) => post<C.KindPolicy>('/kind-policies', input),
    listKindPolicies: () => get<C.KindPolicy[]>('/kind-policies'),
    deleteKindPolicy: async (input) =>
      (await post<{ deleted: boolean }>('/kind-policies/delete', input)).deleted,
    claimRuns: (input) => post<C.Run[]>('/worker/claim', input),
    heartbeat: (input) => post<C.HeartbeatResult>('/worker/heartbeat', input),
    completeRuns: (input) => post<C.Run[]>('/worker/complete', input),
    failRuns: (input) => post<C.Run[]>('/worker/fail', input),
    ackCancel: (input) => post<C.Run[]>('/worker/ack-cancel', input),
    releaseRuns: (input) => post<C.Run[]>('/worker/release', input),
    recoverStuckRuns: (input) => post<C.Run[]>('/worker/recover', input),
    updateProgress: async (input) => (await post<{ count: number }>('/worker/progress', input)).count,
    appendEvents: async (input) => (await post<{ count: number }>('/events', input)).count,
    createArtifacts: (input) => post<C.Artifact[]>('/artifacts', input),
  }
}
