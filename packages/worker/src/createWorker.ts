import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import {
  type ErrorInfo,
  type HeldRun,
  LANES,
  type Lane,
  type OpsClient,
  type Run,
  UnavailableError,
  type Unsubscribe,
} from '@ops-control-room/core'
import { EventEmitter } from 'eventemitter3'
import { type ClaimLoop, startClaimLoop } from './claimLoop'
import { createEventBuffer, type EventBuffer } from './eventBuffer'
import { type Execution, executeRun } from './executeRun'
import { startHeartbeats } from './heartbeats'
import { createWorkerMetrics, type WorkerMetrics } from './metrics'
import type { Periodic } from './periodic'
import { withDeadline } from './periodic'
import { createPrefetchBuffer, type PrefetchBuffer } from './prefetchBuffer'
import { RunContext } from './runContext'
import { createSettlementFlusher, type SettlementFlusher } from './settlementFlusher'
import { startSweeper } from './sweeper'
import type {
  AbortCause,
  AnyHandler,
  PrefetchOptions,
  RunOutcome,
  WorkerEvents,
  WorkerOptions,
} from './types'
import { startWaitRegistration, type WaitRegistration } from './waitRegistration'

/** Where a worker is in its life. */
export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped'

/**
 * What `/health` reports. Liveness and readiness are apart, as orchestrators want them: `live` fails
 * only when the worker's own loops are stuck (restart the process), `ready` also when the database
 * does not answer (a database outage must not restart a whole fleet).
 */
export interface WorkerHealth {
  /** Same as `live && ready`. */
  ok: boolean
  /** The loops are alive: the claim loop and the heartbeat went round recently (or the worker is stopping). */
  live: boolean
  /** Live, and the database answers. */
  ready: boolean
  workerId: string
  state: WorkerState
  /** Executions running here, stale ones (that lost their lease and are being abandoned) included. */
  inFlight: number
  /** Runs claimed ahead, waiting in the local queue for a free slot (not counted in `inFlight`). */
  buffered: number
  /** The claim loop went round recently. */
  loopAlive: boolean
  database: { ok: boolean; error?: string }
}

/** A worker: register handlers, start, stop. Emits typed events (see `WorkerEvents`). */
export interface Worker extends EventEmitter<WorkerEvents> {
  readonly id: string
  readonly state: WorkerState
  readonly lanes: readonly Lane[]
  readonly metrics: WorkerMetrics
  /** Adds a handler; allowed before `start()`. */
  register(handler: AnyHandler): this
  /** Kinds this worker claims. */
  kinds(): string[]
  start(): Promise<void>
  /**
   * Two-phase stop: stops claiming, waits for in-flight runs up to `timeoutMs` (default
   * `shutdownTimeoutMs`), then aborts the rest and hands them back to the queue without burning an
   * attempt. Nothing is left `running` by a stop that returns.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>
  /** Runs executing now, by lane (runs waiting in the claim-ahead buffer are not counted). */
  inFlight(): Partial<Record<Lane, number>>
  /** Runs claimed ahead and waiting for a free slot, by lane. */
  buffered(): Partial<Record<Lane, number>>
  health(): Promise<WorkerHealth>
}

const MAX_RESULT_CHARS = 1_000_000
const MAX_PENDING_SETTLEMENTS = 5000
// A run a wait's answer lists as handed to this worker, not heard by then, is handed back this much
// later (its NOTIFY comes within milliseconds of the enqueue's commit, the answer after it).
const HANDOFF_GRACE_MS = 1000
/** `ClaimRunsInput` takes at most this many runs per lane in one claim. */
const MAX_CLAIM_PER_LANE = 1000

class WorkerImpl extends EventEmitter<WorkerEvents> implements Worker {
  readonly id: string
  readonly lanes: readonly Lane[]
  readonly metrics: WorkerMetrics
  private readonly client: OpsClient
  private readonly options: WorkerOptions
  private readonly limits = new Map<Lane, number>()
  private readonly handlers = new Map<string, AnyHandler>()
  // Executions by lease, not by run id: a stale execution and its successor (the same run claimed
  // again) are two entries, and each settles, heartbeats and finishes as itself.
  private readonly active = new Map<string, Execution>()
  /** The latest execution of each run id here (a run claimed again has a new lease, a new execution). */
  private readonly activeByRun = new Map<string, Execution>()
  private readonly activeByLane = new Map<Lane, number>()
  private _state: WorkerState = 'idle'
  private loop: ClaimLoop | undefined
  private heartbeats: Periodic | undefined
  private sweeper: Periodic | undefined
  private unsubscribe: Unsubscribe | undefined
  private unhandoff: Unsubscribe | undefined
  private waits: WaitRegistration | undefined
  // Hand-off bookkeeping, by lease: runs heard (NOTIFY) that no wait's answer has listed yet, and runs
  // an answer listed that were not heard (handed back unless heard within HANDOFF_GRACE_MS).
  private heardHandoffs = new Map<string, number>()
  private unheardHandoffs = new Map<string, HeldRun>()
  // Handed back unheard: a NOTIFY that still comes for one of them (a stalled process) is ignored.
  private returnedHandoffs = new Map<string, number>()
  private readonly events: EventBuffer
  private readonly settler: SettlementFlusher
  private readonly prefetch: PrefetchBuffer
  private stopping: Promise<void> | undefined
  private idleWaiters: (() => void)[] = []
  private signalHandler: ((signal: NodeJS.Signals) => void) | undefined
  private readonly startedAt = new Date().toISOString()
  private readonly callTimeoutMs: number

  constructor(options: WorkerOptions) {
    super()
    if (!options?.client?.worker) {
      throw new TypeError('createWorker needs { client }: createOpsClient({ backend: postgresBackend(...) })')
    }
    this.options = options
    this.client = options.client
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
    this.lanes = [...new Set(options.lanes ?? LANES)]
    if (this.lanes.length === 0 || this.lanes.some((l) => !LANES.includes(l))) {
      throw new TypeError(`lanes must be a non-empty list of ${LANES.join(', ')}`)
    }
    for (const lane of this.lanes) {
      const c = options.concurrency
      const n = c === undefined ? 4 : typeof c === 'number' ? c : (c[lane] ?? 0)
      if (!Number.isInteger(n) || n < 0 || n > 1000) {
        throw new TypeError(`concurrency of lane ${lane} must be an integer from 0 to 1000 (got ${n})`)
      }
      this.limits.set(lane, n)
      this.activeByLane.set(lane, 0)
    }
    const intervalMs = options.heartbeatIntervalMs ?? 5000
    const timeoutSeconds = options.heartbeatTimeoutSeconds ?? 30
    if (!(intervalMs > 0) || intervalMs * 2 > timeoutSeconds * 1000) {
      throw new TypeError(
        `heartbeatIntervalMs (${intervalMs}) must be positive and at most half of heartbeatTimeoutSeconds (${timeoutSeconds} s), or a slow heartbeat gets live runs recovered`,
      )
    }
    const prefetch = prefetchOptions(options.prefetch)
    const sizes = new Map<Lane, number>()
    for (const [lane, limit] of this.limits) {
      const size = prefetch.size ?? Math.min(1000, limit * 8)
      if (!Number.isInteger(size) || size < 0 || size > 10_000) {
        throw new TypeError(`prefetch size must be an integer from 0 to 10000 (got ${size})`)
      }
      sizes.set(lane, size)
    }
    const ttlMs = prefetch.ttlMs ?? 3000
    if (!(ttlMs > 0 && ttlMs <= 3_600_000)) {
      throw new TypeError(`prefetch ttlMs must be a number of ms from 1 to 3600000 (got ${ttlMs})`)
    }
    const when = prefetch.when ?? 'short-handlers'
    if (when !== 'short-handlers' && when !== 'saturated') {
      throw new TypeError(`prefetch when must be 'short-handlers' or 'saturated' (got ${String(when)})`)
    }
    this.prefetch = createPrefetchBuffer({
      limits: this.limits,
      sizes,
      ttlMs,
      when,
      onExpired: (runs) => {
        for (const run of runs) void this.handBack(run, 'waited in the claim-ahead buffer past its TTL')
        this.loop?.wake()
      },
    })
    for (const h of options.handlers ?? []) this.register(h)
    this.metrics = createWorkerMetrics({
      workerId: this.id,
      inFlight: () => this.inFlight(),
      buffered: () => this.buffered(),
    })
    const onError = (err: Error) => this.emit('error', err)
    // A call may take at most a third of the heartbeat timeout by default: a hung heartbeat is
    // abandoned and sent again long before the sweeper would take this worker's runs away.
    this.callTimeoutMs =
      options.callTimeoutMs ?? Math.min(10_000, Math.max(1000, (timeoutSeconds * 1000) / 3))
    // Every database call has a deadline: one hung on a dead connection is abandoned and the next try
    // goes out on another (the driver reconnects). A settlement whose answer was lost is retried with
    // the same lease, which is harmless: the second write finds the run settled and writes nothing.
    const timed =
      <I, O>(what: string, call: (input: I) => Promise<O>) =>
      (input: I) =>
        withDeadline(call(input), this.callTimeoutMs, what)
    this.events = createEventBuffer({
      workerId: this.id,
      lingerMs: options.eventFlushIntervalMs ?? 25,
      appendEvents: timed('appending events', (input) => this.client.worker.appendEvents(input)),
      updateProgress: timed('updating progress', (input) => this.client.worker.progress(input)),
      onError,
    })
    this.settler = createSettlementFlusher({
      workerId: this.id,
      ops: {
        complete: timed('completing runs', (input) => this.client.worker.complete(input)),
        fail: timed('failing runs', (input) => this.client.worker.fail(input)),
        ackCancel: timed('acknowledging cancels', (input) => this.client.worker.ackCancel(input)),
        release: timed('releasing runs', (input) => this.client.worker.release(input)),
      },
      beforeFlush: () => this.events.flush(),
      onError,
      onFlushed: () => this.loop?.wake(),
    })
  }

  get state(): WorkerState {
    return this._state
  }

  register(handler: AnyHandler): this {
    if (this._state !== 'idle') throw new TypeError('register handlers before start()')
    if (!handler || typeof handler.run !== 'function' || typeof handler.kind !== 'string') {
      throw new TypeError('register takes a handler made with defineHandler({ kind, input, run })')
    }
    if (this.handlers.has(handler.kind)) {
      throw new TypeError(`a handler for kind ${handler.kind} is already registered`)
    }
    this.handlers.set(handler.kind, handler)
    return this
  }

  kinds(): string[] {
    return [...this.handlers.keys()]
  }

  inFlight(): Partial<Record<Lane, number>> {
    return Object.fromEntries(this.activeByLane)
  }

  buffered(): Partial<Record<Lane, number>> {
    return Object.fromEntries(this.lanes.map((lane) => [lane, this.prefetch.count(lane)]))
  }

  async start(): Promise<void> {
    if (this._state !== 'idle') throw new TypeError(`start() was already called (state: ${this._state})`)
    if (this.handlers.size === 0) throw new TypeError('register at least one handler before start()')
    this._state = 'starting'
    try {
      // The first heartbeat registers the worker and proves the database is reachable.
      await this.client.worker.heartbeat({ workerId: this.id, runs: [], info: this.info() })
    } catch (err) {
      this._state = 'idle'
      throw err instanceof Error ? err : new UnavailableError(String(err))
    }
    try {
      // Only wake-ups and cancels: status and event traffic (the Runboard's) never reaches a worker.
      this.unsubscribe = await this.client.subscribe(
        (change) => {
          if (change.type === 'queued') this.loop?.wakeLane(change.lane)
          else if (change.type === 'cancel' && (change.workerId === null || change.workerId === this.id)) {
            for (const execution of this.active.values()) {
              if (execution.run.id !== change.runId) continue
              if (!change.lease || change.lease === execution.run.lease) execution.abort('cancel')
            }
            for (const run of this.prefetch.runs()) {
              if (run.id !== change.runId) continue
              if (!change.lease || change.lease === run.lease) this.cancelBuffered(run.lease as string)
            }
          }
        },
        { types: ['queued', 'cancel'] },
      )
    } catch (err) {
      // Without LISTEN, the poll and the heartbeat still deliver work and cancels, only later.
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
    this.waits = await this.startHandoff()
    const onError = (err: Error) => this.emit('error', err)
    this.heartbeats = startHeartbeats({
      workerId: this.id,
      intervalMs: this.options.heartbeatIntervalMs ?? 5000,
      // Buffered runs are held too: their leases must stay fresh until they start or are handed back.
      held: () => [
        ...[...this.active.values()].filter((e) => !e.cause || e.cause !== 'lost').map(heldOf),
        ...this.prefetch.runs().map((run) => heldOf({ run })),
      ],
      info: () => this.info(),
      send: (input) => withDeadline(this.client.worker.heartbeat(input), this.callTimeoutMs, 'the heartbeat'),
      onResult: (r) => {
        this.metrics.heartbeat(r.rttMs / 1000)
        for (const h of r.cancel) {
          const execution = this.active.get(h.lease)
          if (execution) execution.abort('cancel')
          else this.cancelBuffered(h.lease)
        }
        for (const h of r.lost) {
          const execution = this.active.get(h.lease)
          if (execution) execution.abort('lost')
          else this.dropBuffered(h.lease)
        }
        this.emit('heartbeat', {
          runs: r.runs,
          rttMs: r.rttMs,
          cancel: r.cancel.map((h) => h.id),
          lost: r.lost.map((h) => h.id),
        })
      },
      onError,
    })
    const sweepInterval = this.options.sweepIntervalMs ?? 4000
    if (sweepInterval !== false) {
      const backend = this.client.backend
      const timeoutSeconds = this.options.heartbeatTimeoutSeconds ?? 30
      this.sweeper = startSweeper({
        intervalMs: sweepInterval,
        withLock: (fn) =>
          backend.tryWithLock ? backend.tryWithLock('ops-control-room:recover_stuck_runs', fn) : fn(),
        recover: () => this.client.worker.recoverStuck({ timeoutSeconds }),
        deadlineMs: this.callTimeoutMs * 2,
        onSweep: (recovered) => {
          this.metrics.recovered(recovered.length)
          this.emit('sweep', { recovered })
        },
        onError,
      })
    }
    const kinds = this.kinds()
    this.loop = startClaimLoop({
      lanes: this.lanes,
      // A second claim may go out while one is in flight, once half the worker's slots' worth of
      // runs can be asked for: a busy worker's claims then overlap with the handling of the last
      // one's runs (PostgreSQL claims while Node parses and starts), +10–15 % at concurrency 100.
      // An idle worker's pickup is one claim, as before.
      maxClaimsInFlight: 2,
      minExtraClaim: Math.max(1, Math.ceil([...this.limits.values()].reduce((a, b) => a + b, 0) / 2)),
      // Free slots plus the room the claim-ahead rule gives the lane; still one round trip, of at
      // most MAX_CLAIM_PER_LANE runs per lane (the claim contract's limit).
      freeSlots: (lane) =>
        Math.min(
          MAX_CLAIM_PER_LANE,
          (this.limits.get(lane) ?? 0) - (this.activeByLane.get(lane) ?? 0) + this.prefetch.room(lane),
        ),
      claim: (lanes) => this.claim(lanes, kinds),
      onRuns: (runs) => {
        for (const run of runs) this.accept(run)
      },
      backpressured: () => this.settler.pending() > MAX_PENDING_SETTLEMENTS,
      pollIntervalMs: this.options.pollIntervalMs ?? 2000,
      onError,
      // A lane waits for handed runs with its free handler slots, less the runs its buffer holds.
      ...(this.waits
        ? {
            waitSlots: (lane: Lane) =>
              (this.limits.get(lane) ?? 0) - (this.activeByLane.get(lane) ?? 0) - this.prefetch.count(lane),
            onWaiting: (slots: Partial<Record<Lane, number>>) => this.waits?.report(slots),
          }
        : {}),
    })
    if (this.options.handleSignals) this.wireSignals()
    this._state = 'running'
    this.emit('worker:started', { workerId: this.id })
  }

  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this._state === 'idle' || this._state === 'stopped') return Promise.resolve()
    // Asked again with no time to wait: skip the rest of the graceful phase.
    if (this.stopping && options.timeoutMs === 0) this.abortAll('shutdown')
    this.stopping ??= this.shutdown(options.timeoutMs ?? this.options.shutdownTimeoutMs ?? 30_000)
    return this.stopping
  }

  async health(): Promise<WorkerHealth> {
    const poll = this.options.pollIntervalMs ?? 2000
    const beat = this.options.heartbeatIntervalMs ?? 5000
    const loopAlive =
      this._state === 'running' &&
      this.loop !== undefined &&
      Date.now() - this.loop.lastTick() < poll * 3 + 10_000
    // Liveness is about this process: a stuck loop fails it. A heartbeat that keeps failing because
    // the database is down does not (that is readiness); one that never comes back does.
    const heartbeatAlive = this.heartbeats?.lastRun
      ? Date.now() - this.heartbeats.lastRun() < beat * 3 + 10_000
      : true
    const live = this._state === 'stopping' || (loopAlive && heartbeatAlive)
    let database: WorkerHealth['database'] = { ok: true }
    try {
      await Promise.race([
        this.client.backend.ping(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('ping timed out after 2 s')), 2000).unref(),
        ),
      ])
    } catch (err) {
      database = { ok: false, error: err instanceof Error ? err.message : String(err) }
    }
    return {
      ok: live && database.ok,
      live,
      ready: live && database.ok && this._state === 'running',
      workerId: this.id,
      state: this._state,
      inFlight: this.active.size,
      buffered: this.prefetch.count(),
      loopAlive,
      database,
    }
  }

  /**
   * Claims with a deadline. A claim abandoned at its deadline may still commit later: the runs it got
   * are then handed straight back (release gives their attempt back), so an outage alone never burns
   * an attempt or leaves runs waiting for the heartbeat timeout.
   */
  private async claim(lanes: Partial<Record<Lane, number>>, kinds: string[]): Promise<Run[]> {
    const call = this.client.worker.claim({ workerId: this.id, lanes, kinds })
    let abandoned = false
    call.then(
      (runs) => {
        if (!abandoned || runs.length === 0) return
        for (const run of runs) {
          if (run.lease)
            void this.settler.release(heldOf({ run }), 'claim answered after its deadline').catch(() => {})
        }
      },
      () => {},
    )
    const started = performance.now()
    try {
      const runs = await withDeadline(call, this.callTimeoutMs, 'the claim')
      this.prefetch.claimAnswered(performance.now() - started, lanes, runs)
      return runs
    } catch (err) {
      abandoned = true
      throw err
    }
  }

  private info() {
    return {
      host: hostname(),
      pid: process.pid,
      lanes: [...this.lanes],
      kinds: this.kinds(),
      concurrency: Object.fromEntries(this.limits),
      ...(this.options.version ? { version: this.options.version } : {}),
      metadata: { ...this.options.metadata, startedAt: this.startedAt },
      ...(this._state === 'stopping' || this._state === 'stopped' ? { stopping: true } : {}),
    }
  }

  /**
   * Hand-off: listens for runs handed to this worker, then returns the registration the claim loop
   * keeps up to date. Undefined when the worker or its backend does without (the loop only claims).
   */
  private async startHandoff(): Promise<WaitRegistration | undefined> {
    const backend = this.client.backend
    if (this.options.handoff === false || !this.unsubscribe || !backend.waitForRuns || !backend.onHandoff) {
      return undefined
    }
    const waitForRuns = backend.waitForRuns.bind(backend)
    try {
      this.unhandoff = await backend.onHandoff(this.id, (run) => {
        const lease = run.lease as string
        if (this.returnedHandoffs.has(lease)) return
        // Listed by an answer already (a late NOTIFY): it was not handed back yet, so it is ours.
        if (!this.unheardHandoffs.delete(lease)) this.heardHandoffs.set(lease, Date.now())
        this.waits?.handed(run.lane)
        this.accept(run)
      })
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
      return undefined
    }
    const refreshMs = Math.max(1000, this.options.pollIntervalMs ?? 2000)
    const kinds = this.kinds()
    return startWaitRegistration({
      lanes: this.lanes,
      refreshMs,
      send: (slots) =>
        withDeadline(
          waitForRuns({ workerId: this.id, lanes: slots, kinds, ttlMs: Math.min(600_000, refreshMs * 3) }),
          this.callTimeoutMs,
          'the wait for handed runs',
        ),
      // A database without ops.wait_for_runs (migrations behind the worker): claims alone, as before.
      isPermanent: (error) => /\b42883\b/.test(error.message),
      onError: (error) => this.emit('error', error),
      onHanded: (runs) => this.checkHanded(runs),
    })
  }

  private async handBackHanded(run: HeldRun) {
    this.returnedHandoffs.set(run.lease, Date.now())
    try {
      const row = await this.settler.release(run, `worker ${this.id} never heard the run handed to it`)
      if (row) this.emit('run:released', { run: row })
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
  }

  /**
   * The runs a wait's answer says were handed to this worker: each should have come with its NOTIFY.
   * One that did not (the listening connection dropped meanwhile) is handed back once it is clearly
   * late, so that it neither waits for the heartbeat timeout nor loses an attempt.
   */
  private checkHanded(runs: readonly HeldRun[]) {
    const now = Date.now()
    for (const run of runs) {
      if (this.heardHandoffs.delete(run.lease)) continue
      this.unheardHandoffs.set(run.lease, run)
      setTimeout(() => {
        if (this.unheardHandoffs.delete(run.lease)) void this.handBackHanded(run)
      }, HANDOFF_GRACE_MS).unref?.()
    }
    // Heard runs no answer listed (their lane's wait ended without one): forgotten after a while.
    for (const [lease, at] of this.heardHandoffs) if (now - at > 60_000) this.heardHandoffs.delete(lease)
    for (const [lease, at] of this.returnedHandoffs)
      if (now - at > 60_000) this.returnedHandoffs.delete(lease)
  }

  /** A claimed run: announced, placed, counted. */
  private accept(run: Run) {
    this.emit('run:claimed', run)
    this.place(run)
    // Counted once the run has started or been placed: bookkeeping stays off the pickup path.
    this.metrics.claimed(run.kind, run.lane)
  }

  /** Starts a claimed run if its lane has a free slot, else it waits in the claim-ahead buffer. */
  private place(run: Run) {
    if (!run.lease) {
      this.emit('error', new Error(`claimed run ${run.id} came without a lease; it is left to the sweeper`))
      return
    }
    // The same run claimed again (this worker froze past the timeout and its run was recovered): the
    // older execution's lease is gone, so it can write nothing more. Abort it now rather than at its
    // next heartbeat; it stays counted until its handler returns or is abandoned.
    // Both are lookups by run id: a claim of 80 runs into a worker running 100 does not scan them.
    const older = this.activeByRun.get(run.id)
    if (older && older.run.lease !== run.lease) older.abort('lost')
    const buffered = this.prefetch.leaseOf(run.id)
    if (buffered !== undefined && buffered !== run.lease) this.dropBuffered(buffered)
    if (!this.handlers.has(run.kind)) {
      // Cannot happen while claims pass our kinds; hand it back rather than guess.
      void this.settler.release(heldOf({ run }), `worker ${this.id} has no handler for kind ${run.kind}`)
      return
    }
    if ((this.activeByLane.get(run.lane) ?? 0) < (this.limits.get(run.lane) ?? 0)) this.execute(run)
    // A claim that was in flight when the stop began: nothing waits in the buffer past the start of a stop.
    else if (this._state !== 'running') void this.handBack(run, `worker ${this.id} stopping`)
    else this.prefetch.push(run)
  }

  /** Starts buffered runs of a lane while it has free slots. */
  private startBuffered(lane: Lane) {
    while ((this.activeByLane.get(lane) ?? 0) < (this.limits.get(lane) ?? 0)) {
      const run = this.prefetch.shift(lane)
      if (!run) return
      this.execute(run)
    }
  }

  /** A buffered run whose cancel was requested: settled as cancelled without running its handler. */
  private cancelBuffered(lease: string) {
    const run = this.prefetch.take(lease)
    if (!run) return
    this.loop?.wake()
    void this.settler
      .ackCancel(heldOf({ run }))
      .then((row) => {
        if (!row) return this.lost(run)
        this.metrics.finished(run.kind, run.lane, 'cancelled', 0)
        this.emit('run:cancelled', { run: row, durationMs: 0 })
      })
      .catch((err) => this.emit('error', err instanceof Error ? err : new Error(String(err))))
  }

  /** A buffered run that is no longer ours (the heartbeat says so, or it was claimed again). */
  private dropBuffered(lease: string) {
    const run = this.prefetch.take(lease)
    if (!run) return
    this.loop?.wake()
    this.lost(run)
  }

  /** Hands a run that never started back to the queue; its attempt is given back. */
  private async handBack(run: Run, reason: string) {
    try {
      const row = await this.settler.release(heldOf({ run }), reason)
      if (row) this.emit('run:released', { run: row })
      else this.lost(run)
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
  }

  private execute(run: Run) {
    const handler = this.handlers.get(run.kind) as AnyHandler
    let context: RunContext | undefined
    let execution: Execution | undefined
    execution = executeRun({
      run,
      handler,
      abortGraceMs: this.options.abortGraceMs ?? 5000,
      context: (signal, params) => {
        context = new RunContext({
          run,
          params,
          signal,
          workerId: this.id,
          events: this.events,
          client: this.client,
          artifactStore: this.options.artifactStore,
          onLeaseLost: () => execution?.abort('lost'),
          workspaceRoot: this.options.workspaceRoot,
          keepWorkspace: this.options.keepWorkspaces,
          secrets: this.options.secrets,
        })
        return context
      },
      onAbandoned: (cause) => this.emit('run:abandoned', { run, cause }),
    })
    this.active.set(run.lease as string, execution)
    this.activeByRun.set(run.id, execution)
    this.activeByLane.set(run.lane, (this.activeByLane.get(run.lane) ?? 0) + 1)
    this.emit('run:started', run)
    void execution.done.then((outcome) => {
      if (context) void RunContext.dispose(context)
      return this.finish(execution, outcome)
    })
  }

  private async finish(execution: Execution, outcome: RunOutcome) {
    const { run } = execution
    const seconds = (performance.now() - execution.startedAt) / 1000
    const durationMs = seconds * 1000
    this.active.delete(run.lease as string)
    if (this.activeByRun.get(run.id) === execution) this.activeByRun.delete(run.id)
    this.activeByLane.set(run.lane, (this.activeByLane.get(run.lane) ?? 1) - 1)
    this.prefetch.handlerFinished(run.lane, durationMs)
    // The freed slot goes to the next buffered run at once (no round trip); the loop then refills.
    this.startBuffered(run.lane)
    this.loop?.wake()
    if (this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w()
    try {
      switch (outcome.type) {
        case 'succeeded': {
          const error = checkResult(outcome.result)
          if (error) return await this.fail(execution, error, false, seconds)
          const changes = await this.settler.complete(heldOf(execution), outcome.result ?? null)
          if (!changes) return this.lost(run)
          this.metrics.finished(run.kind, run.lane, 'succeeded', seconds)
          // The run as stored: what the claim read, with every field that can have changed since
          // (built only for a listener: most workers have none, and it is a copy of the whole run).
          if (this.listenerCount('run:succeeded') > 0)
            this.emit('run:succeeded', { run: { ...run, ...changes }, result: outcome.result, durationMs })
          return
        }
        case 'failed':
          return await this.fail(execution, outcome.error, outcome.retry, seconds)
        case 'cancelled': {
          const row = await this.settler.ackCancel(heldOf(execution))
          if (!row) return this.lost(run)
          this.metrics.finished(run.kind, run.lane, 'cancelled', seconds)
          this.emit('run:cancelled', { run: row, durationMs })
          return
        }
        case 'released': {
          const row = await this.settler.release(heldOf(execution), `worker ${this.id} stopping`)
          if (row) this.emit('run:released', { run: row })
          return
        }
        case 'lost':
          return this.lost(run)
      }
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
  }

  private async fail(execution: Execution, error: ErrorInfo, retry: boolean, seconds: number) {
    const { run } = execution
    const row = await this.settler.fail(heldOf(execution), error, retry)
    if (!row) return this.lost(run)
    this.metrics.finished(run.kind, run.lane, row.status === 'cancelled' ? 'cancelled' : 'failed', seconds)
    this.emit('run:failed', {
      run: row,
      error,
      durationMs: seconds * 1000,
      retrying: row.status === 'queued',
    })
  }

  private lost(run: Run) {
    this.emit('run:lost', { run })
  }

  private abortAll(cause: AbortCause) {
    for (const execution of this.active.values()) execution.abort(cause)
  }

  private whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Hands every buffered run back to the queue (a stop): none of them started. */
  private releaseBuffered() {
    for (const run of this.prefetch.clear()) void this.handBack(run, `worker ${this.id} stopping`)
  }

  private async shutdown(timeoutMs: number) {
    this._state = 'stopping'
    this.emit('worker:stopping', { workerId: this.id, inFlight: this.active.size })
    this.releaseBuffered()
    // No run is handed to a stopping worker: the database hears first that it waits no more, and
    // answers what it handed before. A run handed just before still arrives and is handed back
    // (place); one the answer lists whose NOTIFY has not come is handed back here.
    if (this.waits)
      await withDeadline(this.waits.stop(), this.callTimeoutMs, 'the end of the wait').catch((err) =>
        this.emit('error', err instanceof Error ? err : new Error(String(err))),
      )
    // Listed as handed but not heard: nothing more comes to a stopping worker, so back at once.
    for (const run of this.unheardHandoffs.values()) void this.handBackHanded(run)
    this.unheardHandoffs.clear()
    await this.loop?.stop()
    this.releaseBuffered()
    this.prefetch.close()
    // Phase one: let in-flight runs finish. Phase two: abort them; each settles (released) at the
    // latest after the abort grace period.
    if (!(await this.whenIdle(timeoutMs))) {
      this.abortAll('shutdown')
      await this.whenIdle((this.options.abortGraceMs ?? 5000) + 1000)
    }
    await this.settler.drain()
    await this.events.flush()
    await Promise.all([this.heartbeats?.stop(), this.sweeper?.stop()])
    try {
      await withDeadline(
        this.client.worker.heartbeat({
          workerId: this.id,
          runs: [],
          info: { ...this.info(), stopping: true },
        }),
        this.callTimeoutMs,
        'the last heartbeat',
      )
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
    // UNLISTEN is a database call too: a listen connection that hangs must not hold the stop.
    if (this.unhandoff)
      await withDeadline(this.unhandoff(), this.callTimeoutMs, 'unsubscribing').catch(() => {})
    if (this.unsubscribe)
      await withDeadline(this.unsubscribe(), this.callTimeoutMs, 'unsubscribing').catch(() => {})
    this.unwireSignals()
    this._state = 'stopped'
    this.emit('worker:stopped', { workerId: this.id })
  }

  private wireSignals() {
    let received = 0
    this.signalHandler = (signal) => {
      received++
      if (received > 1) {
        // A second signal: skip the graceful wait.
        void this.stop({ timeoutMs: 0 })
        return
      }
      void this.stop().finally(() => {
        process.exit(signal === 'SIGINT' ? 130 : 0)
      })
    }
    process.on('SIGTERM', this.signalHandler)
    process.on('SIGINT', this.signalHandler)
  }

  private unwireSignals() {
    if (!this.signalHandler) return
    process.off('SIGTERM', this.signalHandler)
    process.off('SIGINT', this.signalHandler)
    this.signalHandler = undefined
  }
}

function prefetchOptions(option: WorkerOptions['prefetch']): PrefetchOptions {
  if (option === undefined) return {}
  if (option === false) return { size: 0 }
  if (typeof option === 'number') return { size: option }
  if (typeof option === 'object' && option !== null) return option
  throw new TypeError(`prefetch must be false, a number or { size, ttlMs, when } (got ${String(option)})`)
}

function heldOf(execution: { run: Run }): HeldRun {
  return { id: execution.run.id, lease: execution.run.lease as string }
}

function checkResult(result: unknown): ErrorInfo | undefined {
  let text: string | undefined
  try {
    text = JSON.stringify(result ?? null)
  } catch (err) {
    return {
      type: 'invalid_result',
      message: `the handler's result is not JSON-serialisable: ${String(err)}`,
    }
  }
  if (text !== undefined && text.length > MAX_RESULT_CHARS) {
    return {
      type: 'invalid_result',
      message: `the handler's result is ${text.length} characters of JSON; the limit is ${MAX_RESULT_CHARS} (store big outputs as artifacts)`,
    }
  }
  return undefined
}

/**
 * Creates a worker: a registry of handlers by kind, lanes with per-lane concurrency, a claim loop
 * woken by LISTEN/NOTIFY, batched heartbeats, cancellation, timeouts, retries, artifacts, an in-fleet
 * stuck-run sweeper and a two-phase stop.
 *
 * @example
 * const worker = createWorker({ client, lanes: ['A', 'B'], concurrency: { A: 4, B: 2 }, handlers: [deploy] })
 * worker.on('run:failed', ({ run, error }) => console.error(run.id, error.type, error.message))
 * await worker.start()
 * // …
 * await worker.stop()
 */
export function createWorker(options: WorkerOptions): Worker {
  return new WorkerImpl(options)
}
