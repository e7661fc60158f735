import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import {
  type ErrorInfo,
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
import { createRunContextHandle, type RunContextHandle } from './runContext'
import { createSettlementFlusher, type SettlementFlusher } from './settlementFlusher'
import { startSweeper } from './sweeper'
import type { AbortCause, AnyHandler, RunOutcome, WorkerEvents, WorkerOptions } from './types'

/** Where a worker is in its life. */
export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped'

/** What `/health` reports. */
export interface WorkerHealth {
  ok: boolean
  workerId: string
  state: WorkerState
  inFlight: number
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
  /** Runs executing now, by lane. */
  inFlight(): Partial<Record<Lane, number>>
  health(): Promise<WorkerHealth>
}

const MAX_RESULT_CHARS = 1_000_000
const MAX_PENDING_SETTLEMENTS = 5000

class WorkerImpl extends EventEmitter<WorkerEvents> implements Worker {
  readonly id: string
  readonly lanes: readonly Lane[]
  readonly metrics: WorkerMetrics
  private readonly client: OpsClient
  private readonly options: WorkerOptions
  private readonly limits = new Map<Lane, number>()
  private readonly handlers = new Map<string, AnyHandler>()
  private readonly active = new Map<string, Execution>()
  private readonly activeByLane = new Map<Lane, number>()
  private _state: WorkerState = 'idle'
  private loop: ClaimLoop | undefined
  private heartbeats: Periodic | undefined
  private sweeper: Periodic | undefined
  private unsubscribe: Unsubscribe | undefined
  private readonly events: EventBuffer
  private readonly settler: SettlementFlusher
  private stopping: Promise<void> | undefined
  private idleWaiters: (() => void)[] = []
  private signalHandler: ((signal: NodeJS.Signals) => void) | undefined
  private readonly startedAt = new Date().toISOString()

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
    for (const h of options.handlers ?? []) this.register(h)
    this.metrics = createWorkerMetrics({ workerId: this.id, inFlight: () => this.inFlight() })
    const onError = (err: Error) => this.emit('error', err)
    this.events = createEventBuffer({
      workerId: this.id,
      lingerMs: options.eventFlushIntervalMs ?? 25,
      appendEvents: (input) => this.client.worker.appendEvents(input),
      updateProgress: (input) => this.client.worker.progress(input),
      onError,
    })
    this.settler = createSettlementFlusher({
      workerId: this.id,
      ops: {
        complete: (input) => this.client.worker.complete(input),
        fail: (input) => this.client.worker.fail(input),
        ackCancel: (input) => this.client.worker.ackCancel(input),
        release: (input) => this.client.worker.release(input),
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

  async start(): Promise<void> {
    if (this._state !== 'idle') throw new TypeError(`start() was already called (state: ${this._state})`)
    if (this.handlers.size === 0) throw new TypeError('register at least one handler before start()')
    this._state = 'starting'
    try {
      // The first heartbeat registers the worker and proves the database is reachable.
      await this.client.worker.heartbeat({ workerId: this.id, runIds: [], info: this.info() })
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
            this.active.get(change.runId)?.abort('cancel')
          }
        },
        { types: ['queued', 'cancel'] },
      )
    } catch (err) {
      // Without LISTEN, the poll and the heartbeat still deliver work and cancels, only later.
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
    const onError = (err: Error) => this.emit('error', err)
    this.heartbeats = startHeartbeats({
      workerId: this.id,
      intervalMs: this.options.heartbeatIntervalMs ?? 5000,
      runIds: () => [...this.active.keys(), ...this.settler.pendingIds()],
      info: () => this.info(),
      send: (input) => this.client.worker.heartbeat(input),
      onResult: (r) => {
        this.metrics.heartbeat(r.rttMs / 1000)
        for (const id of r.cancel) this.active.get(id)?.abort('cancel')
        for (const id of r.lost) this.active.get(id)?.abort('lost')
        this.emit('heartbeat', r)
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
      freeSlots: (lane) => (this.limits.get(lane) ?? 0) - (this.activeByLane.get(lane) ?? 0),
      claim: (lanes) => this.client.worker.claim({ workerId: this.id, lanes, kinds }),
      onRuns: (runs) => {
        for (const run of runs) this.execute(run)
      },
      backpressured: () => this.settler.pending() > MAX_PENDING_SETTLEMENTS,
      pollIntervalMs: this.options.pollIntervalMs ?? 2000,
      onError,
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
    const loopAlive =
      this._state === 'running' &&
      this.loop !== undefined &&
      Date.now() - this.loop.lastTick() < poll * 3 + 10_000
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
      ok: loopAlive && database.ok,
      workerId: this.id,
      state: this._state,
      inFlight: this.active.size,
      loopAlive,
      database,
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

  private execute(run: Run) {
    const handler = this.handlers.get(run.kind)
    this.metrics.claimed(run.kind, run.lane)
    this.emit('run:claimed', run)
    if (!handler) {
      // Cannot happen while claims pass our kinds; hand it back rather than guess.
      void this.settler.release(run.id, `worker ${this.id} has no handler for kind ${run.kind}`)
      return
    }
    let context: RunContextHandle | undefined
    const execution = executeRun({
      run,
      handler,
      abortGraceMs: this.options.abortGraceMs ?? 5000,
      context: (signal, params) => {
        context = createRunContextHandle({
          run,
          params,
          signal,
          workerId: this.id,
          events: this.events,
          client: this.client,
          artifactStore: this.options.artifactStore,
          workspaceRoot: this.options.workspaceRoot,
          keepWorkspace: this.options.keepWorkspaces,
          secrets: this.options.secrets,
        })
        return context.ctx
      },
      onAbandoned: (cause) => this.emit('run:abandoned', { run, cause }),
    })
    this.active.set(run.id, execution)
    this.activeByLane.set(run.lane, (this.activeByLane.get(run.lane) ?? 0) + 1)
    this.emit('run:started', run)
    void execution.done.then((outcome) => {
      void context?.dispose()
      return this.finish(execution, outcome)
    })
  }

  private async finish(execution: Execution, outcome: RunOutcome) {
    const { run } = execution
    this.active.delete(run.id)
    this.activeByLane.set(run.lane, (this.activeByLane.get(run.lane) ?? 1) - 1)
    this.loop?.wake()
    if (this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w()
    const seconds = (performance.now() - execution.startedAt) / 1000
    const durationMs = seconds * 1000
    try {
      switch (outcome.type) {
        case 'succeeded': {
          const error = checkResult(outcome.result)
          if (error) return await this.fail(execution, error, false, seconds)
          const row = await this.settler.complete(run.id, outcome.result ?? null)
          if (!row) return this.lost(run)
          this.metrics.finished(run.kind, run.lane, 'succeeded', seconds)
          this.emit('run:succeeded', { run: row, result: outcome.result, durationMs })
          return
        }
        case 'failed':
          return await this.fail(execution, outcome.error, outcome.retry, seconds)
        case 'cancelled': {
          const row = await this.settler.ackCancel(run.id)
          if (!row) return this.lost(run)
          this.metrics.finished(run.kind, run.lane, 'cancelled', seconds)
          this.emit('run:cancelled', { run: row, durationMs })
          return
        }
        case 'released': {
          const row = await this.settler.release(run.id, `worker ${this.id} stopping`)
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
    const row = await this.settler.fail(run.id, error, retry)
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

  private async shutdown(timeoutMs: number) {
    this._state = 'stopping'
    this.emit('worker:stopping', { workerId: this.id, inFlight: this.active.size })
    await this.loop?.stop()
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
      await this.client.worker.heartbeat({
        workerId: this.id,
        runIds: [],
        info: { ...this.info(), stopping: true },
      })
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
    await this.unsubscribe?.().catch(() => {})
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
