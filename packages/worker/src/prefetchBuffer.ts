import type { Lane, Run } from '@ops-control-room/core'

/** When a saturated lane may claim ahead. */
export type PrefetchWhen = 'short-handlers' | 'saturated'

export interface PrefetchBufferOptions {
  /** Handler slots per lane (the worker's concurrency). */
  limits: ReadonlyMap<Lane, number>
  /** Runs per lane that may wait claimed but not started; 0 turns claim-ahead off in that lane. */
  sizes: ReadonlyMap<Lane, number>
  /** A run that waited this long is handed back (`onExpired`). */
  ttlMs: number
  /**
   * `short-handlers`: claim ahead only while the lane's recent handlers are short next to a claim
   * round trip (see `room`); `saturated`: whenever the lane is saturated, whatever its handlers take.
   */
  when: PrefetchWhen
  /** Called with the runs whose TTL ran out, already taken out of the buffer. */
  onExpired(runs: Run[]): void
}

/**
 * The worker's local queue: per lane, a FIFO of runs claimed ahead of free handler slots. The worker
 * starts the next one as soon as a slot frees (no round trip); the buffer decides how much room a
 * claim may ask for, and hands back runs that waited too long.
 */
export interface PrefetchBuffer {
  /**
   * Runs a claim may take in `lane` beyond its free slots now. Zero unless the lane is saturated (its
   * last claim came back with all it asked for) and, with `short-handlers`, at least `MIN_SAMPLES`
   * handlers finished and a buffered run is expected to start within about one claim round trip:
   * `median handler time × room ÷ concurrency ≤ median claim round trip`.
   */
  room(lane: Lane): number
  /** Records how a claim went: how long it took and, per lane, what it asked for and got. */
  claimAnswered(ms: number, asked: Partial<Record<Lane, number>>, runs: readonly Run[]): void
  /** Records a handler's time (finished runs only). */
  handlerFinished(lane: Lane, ms: number): void
  push(run: Run): void
  /** The oldest buffered run of a lane, taken out. */
  shift(lane: Lane): Run | undefined
  /** Takes out the buffered run holding this lease, if any. */
  take(lease: string): Run | undefined
  /** Buffered runs of every lane, oldest first per lane. */
  runs(): Run[]
  /** The lease of the buffered run with this id, if one waits (a lookup, not a scan). */
  leaseOf(runId: string): string | undefined
  /** How many runs wait, in one lane or in all. */
  count(lane?: Lane): number
  /** Takes every buffered run out (a stop). */
  clear(): Run[]
  /** Stops the TTL timer. */
  close(): void
}

/** Handler times a lane needs before `short-handlers` lets it claim ahead. */
export const MIN_SAMPLES = 5
const WINDOW = 32

/** A ring of the last `WINDOW` samples with a median. */
function samples() {
  const values: number[] = []
  let next = 0
  return {
    add(v: number) {
      if (values.length < WINDOW) values.push(v)
      else values[next] = v
      next = (next + 1) % WINDOW
    },
    size: () => values.length,
    median(): number {
      const sorted = [...values].sort((a, b) => a - b)
      const mid = sorted.length >> 1
      return sorted.length % 2
        ? (sorted[mid] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
    },
  }
}

interface Entry {
  run: Run
  deadline: number
}

/** Creates the per-lane local queue of a worker. */
export function createPrefetchBuffer(options: PrefetchBufferOptions): PrefetchBuffer {
  const lanes = [...options.limits.keys()]
  const queues = new Map<Lane, Entry[]>(lanes.map((l) => [l, []]))
  const handlerMs = new Map(lanes.map((l) => [l, samples()]))
  const saturated = new Map<Lane, boolean>(lanes.map((l) => [l, false]))
  const claimMs = samples()
  // Run id → lease of every buffered run: a claim checks its runs against the buffer in O(1).
  const leases = new Map<string, string>()
  let total = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false

  // One timer for the whole buffer, set for the oldest deadline: runs are pushed in deadline order
  // per lane, so the heads are the only candidates.
  function arm() {
    if (timer || closed || total === 0) return
    let soonest = Number.POSITIVE_INFINITY
    for (const q of queues.values()) if (q[0] && q[0].deadline < soonest) soonest = q[0].deadline
    timer = setTimeout(expire, Math.max(0, soonest - performance.now()))
    timer.unref?.()
  }

  function expire() {
    timer = undefined
    const now = performance.now()
    const expired: Run[] = []
    for (const [lane, q] of queues) {
      const before = expired.length
      while (q[0] && q[0].deadline <= now) expired.push(forget((q.shift() as Entry).run))
      // A run waited its whole TTL: the lane's slots are stuck. Claim ahead again only once a claim
      // for free slots comes back full, or the expired runs would be claimed straight back.
      if (expired.length > before) saturated.set(lane, false)
    }
    total -= expired.length
    arm()
    if (expired.length > 0) options.onExpired(expired)
  }

  function forget(run: Run): Run {
    if (leases.get(run.id) === run.lease) leases.delete(run.id)
    return run
  }

  return {
    room(lane) {
      const size = options.sizes.get(lane) ?? 0
      const limit = options.limits.get(lane) ?? 0
      if (size <= 0 || limit <= 0 || !saturated.get(lane)) return 0
      let cap = size
      if (options.when === 'short-handlers') {
        const h = handlerMs.get(lane)
        if (!h || h.size() < MIN_SAMPLES || claimMs.size() === 0) return 0
        const median = h.median()
        if (median > 0) cap = Math.min(cap, Math.floor((limit * claimMs.median()) / median))
      }
      return Math.max(0, cap - (queues.get(lane)?.length ?? 0))
    },
    claimAnswered(ms, asked, runs) {
      claimMs.add(ms)
      const got = new Map<Lane, number>()
      for (const run of runs) got.set(run.lane, (got.get(run.lane) ?? 0) + 1)
      for (const [lane, n] of Object.entries(asked) as [Lane, number][]) {
        if (saturated.has(lane)) saturated.set(lane, (got.get(lane) ?? 0) >= n)
      }
    },
    handlerFinished(lane, ms) {
      handlerMs.get(lane)?.add(ms)
    },
    push(run) {
      const q = queues.get(run.lane)
      if (!q) throw new Error(`run ${run.id} is in lane ${run.lane}, which this worker does not serve`)
      q.push({ run, deadline: performance.now() + options.ttlMs })
      leases.set(run.id, run.lease as string)
      total++
      arm()
    },
    shift(lane) {
      const entry = queues.get(lane)?.shift()
      if (!entry) return undefined
      total--
      return forget(entry.run)
    },
    take(lease) {
      for (const q of queues.values()) {
        const i = q.findIndex((e) => e.run.lease === lease)
        if (i >= 0) {
          total--
          return forget((q.splice(i, 1)[0] as Entry).run)
        }
      }
      return undefined
    },
    runs() {
      const out: Run[] = []
      for (const q of queues.values()) for (const e of q) out.push(e.run)
      return out
    },
    leaseOf(runId) {
      return leases.get(runId)
    },
    count(lane) {
      return lane === undefined ? total : (queues.get(lane)?.length ?? 0)
    },
    clear() {
      const out = this.runs()
      for (const q of queues.values()) q.length = 0
      leases.clear()
      total = 0
      return out
    },
    close() {
      closed = true
      if (timer) clearTimeout(timer)
      timer = undefined
    },
  }
}
