/**
 * Types of `@ops-control-room/worker`.
 *
 * Glossary
 * - session: a named group of runs (one deploy, one PR check).
 * - run: one unit of work with a `kind`, a lane, params and a lifecycle
 *   queued → running → succeeded | failed | cancelled (running → queued on retry, release or recovery).
 * - kind: which handler executes a run; a worker claims only kinds it has handlers for.
 * - lane: one of four queues, A–D; each has its own concurrency in each worker.
 * - claim: the worker atomically takes queued runs for its free slots, in one round trip.
 * - prefetch (claim-ahead): runs claimed beyond the free slots, waiting in a per-lane local queue
 *   (holding their leases) until a slot frees.
 * - heartbeat: one round trip for all in-flight runs; proves they are alive, registers the worker and
 *   answers which runs were cancelled or lost.
 * - lease: a claimed run stays this worker's while heartbeats arrive; after the heartbeat timeout the
 *   fleet's sweeper recovers it.
 * - artifact: an output of a run: a file (bytes in an artifact store), a link or text.
 * - template: a named, versioned run definition; the worker sees only the run it produced.
 */
import type {
  Artifact,
  ArtifactBody,
  ArtifactStore,
  ErrorInfo,
  EventLevel,
  Lane,
  OpsClient,
  Run,
} from '@ops-control-room/core'
import type { z } from 'zod'

/** Writes `ops.run_events` rows for the run; buffered and flushed in batches. */
export interface RunLogger {
  debug(message: string, data?: unknown): void
  info(message: string, data?: unknown): void
  warn(message: string, data?: unknown): void
  error(message: string, data?: unknown): void
  /** An event of a custom type (`deploy:migrated`), at a level. */
  event(type: string, message: string, options?: { level?: EventLevel; data?: unknown }): void
}

/** What `ctx.artifacts` offers a handler. */
export interface RunArtifacts {
  /** Stores content of any size through the worker's artifact store (streamed) and records it. */
  put(input: {
    name: string
    body: ArtifactBody
    contentType?: string
    metadata?: Record<string, unknown>
  }): Promise<{ id: string; storagePath: string; size: number; sha256: string }>
  /** Records inline text (up to 1 MiB). */
  text(input: { name: string; text: string; contentType?: string }): Promise<{ id: string }>
  /** Records a link. */
  link(input: { name: string; url: string }): Promise<{ id: string }>
  /**
   * The artifacts this run already has, oldest first — including those of earlier attempts, so a
   * retried handler can skip uploading what a previous attempt stored.
   */
  list(): Promise<Artifact[]>
}

/** What a handler's `run` receives. */
export interface HandlerContext<Params = unknown> {
  /** The params, validated (and transformed) by the handler's input schema. */
  readonly params: Params
  /** The run as claimed (attempt already incremented). */
  readonly run: Run
  /** Aborts on cancel, timeout, lost lease or forced shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal
  readonly log: RunLogger
  /** Reports progress (0..1) with an optional message; sent with the next batch, latest value wins. */
  progress(value: number, message?: string): void
  readonly artifacts: RunArtifacts
  /** The id of the worker executing the run. */
  readonly workerId: string
  /**
   * A directory of this run's own, created on first read (no cost to handlers that never use it) and
   * removed with its contents when the run ends, unless the worker keeps workspaces for debugging
   * (`keepWorkspaces`). Each attempt gets a fresh one: a retry must not rely on a previous attempt's
   * files (it may run on another machine).
   */
  readonly workspace: string
  /** Secrets resolved on the worker, never from params. See `RunSecrets`. */
  readonly secrets: RunSecrets
}

/**
 * A secret reference a param may hold in place of a value: `{ "$secret": "GIT_TOKEN" }`. Only the
 * name travels through the database; the value is resolved on the worker by `ctx.secrets`.
 */
export interface SecretReference {
  $secret: string
}

/**
 * Secrets a handler reads on the worker. By default a name `X` resolves to the worker's environment
 * variable `OPS_SECRET_X` (nothing else of the environment is reachable through a reference, so a
 * run cannot ask for `DATABASE_URL`); `WorkerOptions.secrets` replaces the source.
 */
export interface RunSecrets {
  /** The secret's value, or undefined when the worker has none of that name. */
  get(name: string): string | undefined
  /**
   * Resolves a `{ "$secret": name }` reference (or returns a plain string unchanged).
   * @throws ValidationError when the reference names a secret the worker does not have.
   */
  resolve(value: string | SecretReference): string
}

/** Where a worker's secrets come from: a map, or a lookup function. */
export type SecretSource =
  | Readonly<Record<string, string | undefined>>
  | ((name: string) => string | undefined)

/** A handler plugin: a kind, an input schema and `run`. Create one with `defineHandler`. */
export interface HandlerDefinition<Schema extends z.ZodType = z.ZodType, Output = unknown> {
  readonly kind: string
  readonly input: Schema
  /** A one-line description, shown in the worker's registration. */
  readonly description?: string
  run(ctx: HandlerContext<z.output<Schema>>): Promise<Output> | Output
}

/** A handler of any schema and output, as the registry holds it. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds handlers of every params type.
export type AnyHandler = HandlerDefinition<any, any>

/** Per-lane concurrency, or one number for every lane the worker serves. */
export type Concurrency = number | Partial<Record<Lane, number>>

export interface WorkerOptions {
  client: OpsClient
  /** Unique in the fleet. Default `<host>-<pid>-<random>`. */
  workerId?: string
  /** Lanes to serve. Default all four. */
  lanes?: readonly Lane[]
  /** Handlers running at once, per lane. Default 4 per lane. */
  concurrency?: Concurrency
  handlers?: readonly AnyHandler[]
  /**
   * Claim-ahead: runs per lane this worker may hold claimed but not yet started, so that short
   * handlers are not bound by one claim round trip per `concurrency` runs. A number sets the size;
   * `false` turns it off. Default `{ size: concurrency × 8, ttlMs: 3000, when: 'short-handlers' }`:
   * only a saturated lane whose recent handlers are short next to a claim round trip claims ahead
   * (see the README, "Claim-ahead"). Concurrency stays the hard limit on running handlers.
   */
  prefetch?: false | number | PrefetchOptions
  /** One heartbeat round trip for all in-flight runs every this many ms. Default 5000. */
  heartbeatIntervalMs?: number
  /**
   * Deadline of each database call (claim, heartbeat, settlement, events, sweep) in ms: a call hung
   * on a dead connection is abandoned and retried. Default: a third of the heartbeat timeout, at
   * most 10000.
   */
  callTimeoutMs?: number
  /** Runs whose heartbeat is older than this are recovered by the fleet's sweeper. Default 30. */
  heartbeatTimeoutSeconds?: number
  /** The claim loop polls this often when no wake-up arrives (the LISTEN/NOTIFY fallback). Default 2000. */
  pollIntervalMs?: number
  /**
   * Hand-off: while a lane of this worker is empty, the worker says it waits (`ops.wait_for_runs`), and
   * an enqueue of one run due now is handed to it with the NOTIFY, already claimed: the pickup skips
   * the claim's round trip. Needs a backend that offers it (`postgresBackend`, not behind a
   * transaction pooler). Default true.
   */
  handoff?: boolean
  /** Base interval of the stuck-run sweep (±25 % jitter). Default 4000; false turns the sweeper off. */
  sweepIntervalMs?: number | false
  /** How long a handler may keep running after its signal aborted before it is abandoned. Default 5000. */
  abortGraceMs?: number
  /** `stop()` waits this long for in-flight runs before aborting them. Default 30000. */
  shutdownTimeoutMs?: number
  /** Linger before a batch of log events is written (more lines per round trip). Default 25. */
  eventFlushIntervalMs?: number
  /** Where `ctx.artifacts.put` keeps content. Without one, `put` throws (text and links still work). */
  artifactStore?: ArtifactStore
  /** Parent directory of per-run workspaces (`ctx.workspace`). Default `<os tmpdir>/ops-workspaces`. */
  workspaceRoot?: string
  /** Keep each run's workspace after it ends, for debugging. Default false. */
  keepWorkspaces?: boolean
  /**
   * Where `ctx.secrets` looks names up. Default: the environment variable `OPS_SECRET_<NAME>` of the
   * worker process.
   */
  secrets?: SecretSource
  /** Wire SIGTERM and SIGINT to `stop()`. Default false. */
  handleSignals?: boolean
  /** Reported in `ops.workers`. */
  version?: string
  metadata?: Record<string, unknown>
}

/** Claim-ahead settings (`WorkerOptions.prefetch`). */
export interface PrefetchOptions {
  /** Runs per lane held claimed but not started, at most. Default: the lane's concurrency × 8 (at most 1000). */
  size?: number
  /** A run that waited this long in the buffer is handed back to the queue (attempt not burned). Default 3000. */
  ttlMs?: number
  /**
   * `short-handlers` (default): claim ahead only while the lane is saturated and a buffered run is
   * expected to start within about one claim round trip, judged from the median of its recent
   * handler times. `saturated`: whenever the lane is saturated, like graphile-worker's `localQueue`.
   */
  when?: 'short-handlers' | 'saturated'
}

/** Why a run's signal aborted. */
export type AbortCause = 'cancel' | 'timeout' | 'lost' | 'shutdown'

/** How a run ended in this worker. */
export type RunOutcome =
  | { type: 'succeeded'; result: unknown }
  | { type: 'failed'; error: ErrorInfo; retry: boolean }
  | { type: 'cancelled' }
  | { type: 'released' }
  | { type: 'lost' }

/** Typed events of a worker (eventemitter3). */
export interface WorkerEvents {
  'worker:started': [info: { workerId: string }]
  'worker:stopping': [info: { workerId: string; inFlight: number }]
  'worker:stopped': [info: { workerId: string }]
  /** The run was claimed by this worker (it may then wait in the claim-ahead buffer). */
  'run:claimed': [run: Run]
  /** Its handler starts. */
  'run:started': [run: Run]
  'run:succeeded': [info: { run: Run; result: unknown; durationMs: number }]
  /** `retrying` when the run went back to the queue (attempts remain). */
  'run:failed': [info: { run: Run; error: ErrorInfo; durationMs: number; retrying: boolean }]
  /** Cancelled while running here, or while waiting in the claim-ahead buffer (`durationMs` 0, no handler ran). */
  'run:cancelled': [info: { run: Run; durationMs: number }]
  /**
   * Handed back to the queue, attempt not burned: by a stop, or (never started) because it waited in
   * the claim-ahead buffer past its TTL.
   */
  'run:released': [info: { run: Run }]
  /** No longer this worker's (recovered elsewhere or finished): its handler was aborted, or it left the buffer unstarted. */
  'run:lost': [info: { run: Run }]
  /** A handler ignored its aborted signal past the grace period; the run was settled without it. */
  'run:abandoned': [info: { run: Run; cause: AbortCause }]
  heartbeat: [info: { runs: number; rttMs: number; cancel: string[]; lost: string[] }]
  /** A sweep that held the fleet's lock; `recovered` runs were stuck. */
  sweep: [info: { recovered: Run[] }]
  /** A failure of the worker's own machinery (claim, heartbeat, flush); the worker keeps going. */
  error: [error: Error]
}
