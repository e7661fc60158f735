import type { z } from 'zod'
import type * as C from './contract'
import { ValidationError } from './errors'

/** Parsed (validated, defaults applied) inputs, as a backend receives them. */
export type Parsed<S extends z.ZodType> = z.output<S>

/** Stops a subscription. Safe to call more than once. */
export type Unsubscribe = () => Promise<void>

/**
 * The kinds of live change: `queued` (a lane got work), `cancel`, `run` (status/progress), `events`.
 * (`runs` digests stand in for `run` changes on a stream opened with `digestMs`; asking for `run`
 * delivers them too.)
 */
export type ChangeType = Exclude<C.Change['type'], 'runs'>

/** A worker's wait for runs handed to it (`Backend.waitForRuns`). */
export interface WaitForRunsInput {
  workerId: string
  /** Free slots per lane; 0 or a lane left out: not waiting in that lane. */
  lanes: Partial<Record<C.Lane, number>>
  kinds: readonly string[]
  /** How long the wait holds unless said again, 100 to 600,000 ms. */
  ttlMs: number
}

/** What a subscription wants delivered. */
export interface SubscribeOptions {
  /** Only these kinds of change; all of them when omitted. */
  types?: readonly ChangeType[]
}

const CHANGE_TYPES: readonly ChangeType[] = ['queued', 'cancel', 'run', 'events']

/** The change types a subscription asks for (all when `types` is omitted); unknown ones are refused. */
export function changeTypes(options?: SubscribeOptions): ChangeType[] {
  const types = options?.types
  if (types === undefined) return [...CHANGE_TYPES]
  if (!Array.isArray(types) || types.length === 0 || types.some((t) => !CHANGE_TYPES.includes(t))) {
    throw new ValidationError(`subscribe types must be a non-empty list of ${CHANGE_TYPES.join(', ')}`, {
      details: { types },
    })
  }
  return [...new Set(types)]
}

/** Wraps a listener so that it only hears the change types asked for. */
export function filterChanges(
  listener: (change: C.Change) => void,
  options?: SubscribeOptions,
): (change: C.Change) => void {
  if (options?.types === undefined) return listener
  const wanted = new Set<string>(changeTypes(options))
  return (change) => {
    if (wanted.has(change.type === 'runs' ? 'run' : change.type)) listener(change)
  }
}

/**
 * How a client reaches an Ops Control Room deployment. Three implementations: `postgresBackend`
 * (a direct connection), `httpBackend` (the executor API) and `supabaseBackend` (supabase-js).
 * Backends receive inputs already validated by the client; they map rows to the contract and failures
 * to typed errors, and hold no state-transition logic of their own (that lives in SQL).
 */
export interface Backend {
  /** A short name for logs: 'postgres', 'http', 'supabase'. */
  readonly kind: string

  /**
   * True when every input reaches a server that parses it with the contract's schemas (the executor
   * API: `httpBackend`, `supabaseBackend`). The browser client (`@ops-control-room/core/client`)
   * checks no more than ids itself, so it accepts only such backends.
   */
  readonly validatesInput?: boolean

  createSession(input: Parsed<typeof C.CreateSessionInput>): Promise<C.Session>
  getSession(id: string): Promise<C.Session | null>
  listSessions(input: Parsed<typeof C.ListSessionsInput>): Promise<C.Session[]>

  enqueueRuns(input: Parsed<typeof C.EnqueueRunsInput>): Promise<C.Run[]>
  getRun(id: string): Promise<C.Run | null>
  listRuns(input: Parsed<typeof C.ListRunsInput>): Promise<C.Run[]>
  cancelRuns(input: Parsed<typeof C.CancelRunsInput>): Promise<C.Run[]>
  /** Failed or cancelled runs back to `queued` as a new attempt (`ops.retry_runs`); others unchanged. */
  retryRuns(input: Parsed<typeof C.RetryRunsInput>): Promise<C.Run[]>
  /** Counts per lane and status, throughput and error rate, from the database (`ops.session_stats`). */
  sessionStats(input: Parsed<typeof C.SessionStatsInput>): Promise<C.SessionStats>
  /** How many runs match a filter, up to `max`. */
  countRuns(input: Parsed<typeof C.CountRunsInput>): Promise<C.RunCount>
  /** Cancels every run matching a filter in one transaction (`ops.cancel_matching`). */
  cancelMatching(input: Parsed<typeof C.CancelMatchingInput>): Promise<C.BulkRunsResult>
  /** Retries every run matching a filter in one transaction (`ops.retry_matching`). */
  retryMatching(input: Parsed<typeof C.RetryMatchingInput>): Promise<C.BulkRunsResult>
  /** Queue depth per lane and throughput history of a session (`ops.lane_history`). */
  laneHistory(input: Parsed<typeof C.LaneHistoryInput>): Promise<C.LaneHistory>

  listEvents(input: Parsed<typeof C.ListEventsInput>): Promise<C.RunEvent[]>
  listArtifacts(input: Parsed<typeof C.ListArtifactsInput>): Promise<C.Artifact[]>
  getArtifact(id: string): Promise<C.Artifact | null>

  createTemplate(input: Parsed<typeof C.CreateTemplateInput>): Promise<C.RunTemplate>
  getTemplate(input: Parsed<typeof C.GetTemplateInput>): Promise<C.RunTemplate | null>
  listTemplates(input: Parsed<typeof C.ListTemplatesInput>): Promise<C.RunTemplate[]>

  listWorkers(): Promise<C.WorkerInfo[]>
  /** The queue now and the last window: `ops.queue_stats` (service_role). */
  queueStats(input: Parsed<typeof C.QueueStatsInput>): Promise<C.QueueStats>

  // Who may run what (service_role only).
  setKindPolicy(input: Parsed<typeof C.SetKindPolicyInput>): Promise<C.KindPolicy>
  listKindPolicies(): Promise<C.KindPolicy[]>
  deleteKindPolicy(input: Parsed<typeof C.DeleteKindPolicyInput>): Promise<boolean>

  // The worker's side.
  claimRuns(input: Parsed<typeof C.ClaimRunsInput>): Promise<C.Run[]>
  heartbeat(input: Parsed<typeof C.HeartbeatInput>): Promise<C.HeartbeatResult>
  /** The runs as stored; with `returning: 'changes'`, a backend may answer `RunChanges` instead. */
  completeRuns(input: Parsed<typeof C.CompleteRunsInput>): Promise<C.Run[] | C.RunChanges[]>
  failRuns(input: Parsed<typeof C.FailRunsInput>): Promise<C.Run[]>
  ackCancel(input: Parsed<typeof C.AckCancelInput>): Promise<C.Run[]>
  releaseRuns(input: Parsed<typeof C.ReleaseRunsInput>): Promise<C.Run[]>
  recoverStuckRuns(input: Parsed<typeof C.RecoverStuckRunsInput>): Promise<C.Run[]>
  updateProgress(input: Parsed<typeof C.UpdateProgressInput>): Promise<number>
  appendEvents(input: Parsed<typeof C.AppendEventsInput>): Promise<number>
  createArtifacts(input: Parsed<typeof C.CreateArtifactsInput>): Promise<C.Artifact[]>

  /**
   * Live changes. The listener gets small notifications (`Change`); it should read what it needs.
   * Resolves once listening, so nothing that happens after it resolves is missed. With `types`, only
   * those kinds of change are delivered, and a backend that can (PostgreSQL) does not even receive
   * the others: a worker asks for `queued` and `cancel` and pays nothing for the Runboard's traffic.
   */
  subscribe(listener: (change: C.Change) => void, options?: SubscribeOptions): Promise<Unsubscribe>

  /** Runs `fn` while holding a cluster-wide lock named `key`, or returns undefined if another holds it. */
  tryWithLock?<T>(key: string, fn: () => Promise<T>): Promise<T | undefined>

  /**
   * Hand-off (postgresBackend): says that a worker waits for new runs of `kinds`, with the free slots
   * given per lane (0: it waits no more in that lane), for `ttlMs`. While it waits, an enqueue of one
   * run due now is written already claimed by it and delivered to `onHandoff`, with no claim.
   * Answers the runs handed to it since its last call (with their leases): one whose delivery never
   * came should be handed back. Backends without LISTEN/NOTIFY omit both.
   */
  waitForRuns?(input: WaitForRunsInput): Promise<C.HeldRun[]>

  /** Delivers the runs handed to `workerId` (see `waitForRuns`), each claimed with its lease. */
  onHandoff?(workerId: string, listener: (run: C.Run) => void): Promise<Unsubscribe>

  /**
   * Hears when the live connection drops (`reconnecting`) and comes back (`live`), for an honest
   * "Live" badge. Backends whose subscription has no connection of its own to lose omit it.
   */
  watchConnection?(listener: (state: 'live' | 'reconnecting') => void): () => void

  /** Whether the backend can reach its database or API now. */
  ping(): Promise<void>

  close(): Promise<void>
}
