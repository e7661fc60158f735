import type {
  AckCancelInput,
  CompleteRunsInput,
  ErrorInfo,
  FailRunsInput,
  HeldRun,
  ReleaseRunsInput,
  Run,
  RunChanges,
} from '@ops-control-room/core'

/** The state transitions the flusher is handed; it never sees SQL. */
export interface SettlementOps {
  /** Called with `returning: 'changes'`; a backend that answers whole runs is fine too. */
  complete(input: CompleteRunsInput & { returning: 'changes' }): Promise<RunChanges[] | Run[]>
  fail(input: FailRunsInput): Promise<Run[]>
  ackCancel(input: AckCancelInput): Promise<Run[]>
  release(input: ReleaseRunsInput): Promise<Run[]>
}

export interface SettlementFlusherOptions {
  ops: SettlementOps
  workerId: string
  /** Runs before each batch is written: the event buffer's flush, so a run's log precedes its end. */
  beforeFlush(): Promise<void>
  onError(error: Error): void
  /** Called after each batch, so a loop held back by backpressure can go on. */
  onFlushed(): void
  /**
   * Attempts per batch before its runs are left to the stuck-run sweeper. Default 10: with waits of
   * 0.4 s doubling up to 5 s, about 30 s — a database restart is ridden out, not turned into recoveries.
   */
  maxAttempts?: number
  /**
   * Batches written at once. Default 2: while one batch commits (an fsync) the next is already on
   * its way, which keeps a busy worker's settlements from queueing behind a single connection.
   */
  maxConcurrentBatches?: number
}

/**
 * Settles runs in batches; each call names the run and the lease its claim issued, and resolves with
 * the run as stored, or null if that lease was no longer the run's current one (nothing was written).
 * A completion resolves with what it changed (`RunChanges`): the caller holds the rest of the run.
 */
export interface SettlementFlusher {
  complete(held: HeldRun, result: unknown): Promise<RunChanges | null>
  fail(held: HeldRun, error: ErrorInfo, retry: boolean): Promise<Run | null>
  ackCancel(held: HeldRun): Promise<Run | null>
  release(held: HeldRun, reason?: string): Promise<Run | null>
  /** Settlements queued, being written or waiting for a retry. */
  pending(): number
  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void>
}

type Kind = 'complete' | 'fail' | 'ack' | 'release'
interface Item {
  kind: Kind
  id: string
  lease: string
  result?: unknown
  error?: ErrorInfo
  retry?: boolean
  reason?: string
  attempts: number
  resolve(run: Run | RunChanges | null): void
  reject(err: Error): void
}

const CHUNK = 5000

/**
 * Batches run settlements across runs: while one batch is being written, the next accumulates, so an
 * idle worker settles a run in one round trip and a busy one settles hundreds per round trip (the SQL
 * functions are set-based). Completions, failures, cancel acknowledgements and releases of one batch
 * are written concurrently on the pool, and up to `maxConcurrentBatches` batches are in flight.
 */
export function createSettlementFlusher(options: SettlementFlusherOptions): SettlementFlusher {
  const maxAttempts = options.maxAttempts ?? 10
  const maxWriters = options.maxConcurrentBatches ?? 2
  let queue: Item[] = []
  // By lease: two executions of one run (a stale one and its successor) never share an entry.
  const inFlight = new Map<string, Item>()
  // Items whose write failed, waiting for their retry: still running in the database.
  const waiting = new Set<Item>()
  let writers = 0
  let scheduled = false
  const drainWaiters: (() => void)[] = []

  function enqueue<T extends Run | RunChanges>(
    kind: Kind,
    held: HeldRun,
    more: Pick<Item, 'result' | 'error' | 'retry' | 'reason'>,
  ): Promise<T | null> {
    return new Promise<T | null>((resolve, reject) => {
      queue.push({
        kind,
        id: held.id,
        lease: held.lease,
        result: more.result,
        error: more.error,
        retry: more.retry,
        reason: more.reason,
        attempts: 0,
        resolve: resolve as Item['resolve'],
        reject,
      })
      kick()
    })
  }

  function kick() {
    if (scheduled || writers >= maxWriters || queue.length === 0) return
    scheduled = true
    // setImmediate: let every handler that finished in this turn join the batch.
    setImmediate(() => {
      scheduled = false
      void writeNext()
    })
  }

  function idle() {
    return writers === 0 && !scheduled && queue.length === 0 && inFlight.size === 0 && waiting.size === 0
  }

  async function writeNext() {
    if (writers >= maxWriters || queue.length === 0) return
    writers++
    const batch = queue
    queue = []
    for (const item of batch) inFlight.set(item.lease, item)
    try {
      await writeBatch(batch)
    } finally {
      for (const item of batch) if (inFlight.get(item.lease) === item) inFlight.delete(item.lease)
      writers--
    }
    options.onFlushed()
    kick()
    if (idle()) for (const w of drainWaiters.splice(0)) w()
  }

  async function writeBatch(batch: Item[]) {
    try {
      await options.beforeFlush()
    } catch (err) {
      options.onError(asError(err))
    }
    const groups: Record<Kind, Item[]> = { complete: [], fail: [], ack: [], release: [] }
    for (const item of batch) groups[item.kind].push(item)
    const { ops, workerId } = options
    await Promise.all([
      write(groups.complete, (items) =>
        ops.complete({
          workerId,
          results: items.map((i) => ({ id: i.id, lease: i.lease, result: i.result ?? null })),
          returning: 'changes',
        }),
      ),
      write(groups.fail, (items) =>
        ops.fail({
          workerId,
          failures: items.map((i) => ({
            id: i.id,
            lease: i.lease,
            error: i.error as ErrorInfo,
            retry: i.retry,
          })),
        }),
      ),
      write(groups.ack, (items) => ops.ackCancel({ workerId, runs: items.map(held) })),
      write(groups.release, (items) =>
        ops.release({ workerId, runs: items.map(held), reason: items[0]?.reason }),
      ),
    ])
  }

  async function write(items: Item[], call: (items: Item[]) => Promise<(Run | RunChanges)[]>) {
    // In id order: every writer of several runs locks them in id order, whatever plan the database
    // picks for a batch (a nested loop follows its input), so a settlement and a cancel or a
    // heartbeat never wait on each other in a cycle.
    items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (let i = 0; i < items.length; i += CHUNK) {
      const chunk = items.slice(i, i + CHUNK)
      try {
        const rows = await call(chunk)
        // A returned row carries the lease it was settled under: match on it, never on the id alone.
        const byLease = new Map(rows.map((r) => [r.lease, r]))
        for (const item of chunk) item.resolve(byLease.get(item.lease) ?? null)
      } catch (err) {
        const error = asError(err)
        options.onError(error)
        for (const item of chunk) {
          item.attempts++
          if (item.attempts >= maxAttempts) {
            // The run stays `running` without heartbeats: the fleet's sweeper recovers it.
            item.reject(error)
          } else {
            waiting.add(item)
            setTimeout(
              () => {
                waiting.delete(item)
                queue.push(item)
                kick()
              },
              Math.min(200 * 2 ** item.attempts, 5000),
            ).unref?.()
          }
        }
      }
    }
  }

  return {
    complete: (h, result) => enqueue<RunChanges>('complete', h, { result }),
    fail: (h, error, retry) => enqueue<Run>('fail', h, { error, retry }),
    ackCancel: (h) => enqueue<Run>('ack', h, {}),
    release: (h, reason) => enqueue<Run>('release', h, { reason }),
    pending: () => queue.length + inFlight.size + waiting.size,
    drain() {
      if (idle()) return Promise.resolve()
      return new Promise((resolve) => drainWaiters.push(resolve))
    },
  }
}

const held = (i: Item): HeldRun => ({ id: i.id, lease: i.lease })

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
