import type { Lane } from '@ops-control-room/core'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The Prometheus metrics of one worker, in a registry of its own (several workers may share a process). */
export interface WorkerMetrics {
  readonly registry: Registry
  claimed(kind: string, lane: Lane): void
  finished(kind: string, lane: Lane, outcome: 'succeeded' | 'failed' | 'cancelled', seconds: number): void
  heartbeat(seconds: number): void
  recovered(count: number): void
}

/** Creates a worker's metrics; `inFlight` is read at scrape time. */
export function createWorkerMetrics(options: {
  workerId: string
  inFlight(): Partial<Record<Lane, number>>
  /** Runs claimed ahead, waiting for a free slot, by lane. */
  buffered?(): Partial<Record<Lane, number>>
}): WorkerMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({ worker_id: options.workerId })
  // Per-run counts are kept in plain objects and handed to prom-client when it collects: its `inc` and
  // `observe` hash their label object on every call, which was 5 % of a worker's CPU at concurrency
  // 100 (three calls per run).
  const tallies = new Map<string, Map<Lane, Tally>>()
  const tally = (kind: string, lane: Lane): Tally => {
    let byLane = tallies.get(kind)
    if (!byLane) {
      byLane = new Map()
      tallies.set(kind, byLane)
    }
    let t = byLane.get(lane)
    if (!t) {
      t = newTally(kind, lane)
      byLane.set(lane, t)
    }
    return t
  }
  const each = (fn: (t: Tally) => void) => {
    for (const byLane of tallies.values()) for (const t of byLane.values()) fn(t)
  }
  // A counter reports what was counted since it last collected (a registry reset zeroes it, and the
  // next collect goes on from there, as a prom-client counter would).
  const counter = (name: string, help: string, field: CountField) =>
    new Counter({
      name,
      help,
      labelNames: ['kind', 'lane'],
      registers: [registry],
      collect() {
        each((t) => {
          const delta = t.counts[field] - t.reported[field]
          if (delta > 0) this.inc(t.labels, delta)
          t.reported[field] = t.counts[field]
        })
      },
    })
  counter('ops_worker_runs_claimed_total', 'Runs claimed, by kind and lane.', 'claimed')
  counter('ops_worker_runs_succeeded_total', 'Runs that succeeded, by kind and lane.', 'succeeded')
  counter(
    'ops_worker_runs_failed_total',
    'Run attempts that failed (retried or final), by kind and lane.',
    'failed',
  )
  counter(
    'ops_worker_runs_cancelled_total',
    'Runs cancelled while running here, by kind and lane.',
    'cancelled',
  )
  new Gauge({
    name: 'ops_worker_runs_in_flight',
    help: 'Runs executing now, by lane.',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const [lane, n] of Object.entries(options.inFlight())) this.set({ lane }, n ?? 0)
    },
  })
  new Gauge({
    name: 'ops_worker_runs_buffered',
    help: 'Runs claimed ahead and waiting in the local queue for a free slot, by lane.',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const [lane, n] of Object.entries(options.buffered?.() ?? {})) this.set({ lane }, n ?? 0)
    },
  })
  registry.registerMetric(
    new DurationHistogram(each, () => tallies.clear()) as unknown as Histogram<'kind' | 'lane' | 'outcome'>,
  )
  const heartbeat = new Histogram({
    name: 'ops_worker_heartbeat_rtt_seconds',
    help: 'Round-trip time of the batched heartbeat.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  })
  const recoveries = new Counter({
    name: 'ops_worker_recoveries_total',
    help: 'Stuck runs recovered by this worker’s sweeps.',
    registers: [registry],
  })
  return {
    registry,
    claimed(kind, lane) {
      tally(kind, lane).counts.claimed++
    },
    finished(kind, lane, outcome, seconds) {
      const t = tally(kind, lane)
      t.counts[outcome]++
      // A duration that is not a finite number (a clock gone wrong) is counted but not timed.
      if (!Number.isFinite(seconds)) return
      const h = t.durations[outcome]
      h.sum += seconds
      h.count++
      let i = 0
      while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++
      h.buckets[i] = (h.buckets[i] as number) + 1
    },
    heartbeat: (seconds) => heartbeat.observe(seconds),
    recovered: (count) => {
      if (count > 0) recoveries.inc(count)
    },
  }
}

const DURATION_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600]

type CountField = 'claimed' | 'succeeded' | 'failed' | 'cancelled'
type Outcome = 'succeeded' | 'failed' | 'cancelled'

/** Handler times of one kind, lane and outcome: per bucket (not cumulative; the last is +Inf), sum, count. */
interface Durations {
  buckets: number[]
  sum: number
  count: number
}

/** What a worker counted for one kind in one lane. */
interface Tally {
  labels: { kind: string; lane: Lane }
  counts: Record<CountField, number>
  reported: Record<CountField, number>
  durations: Record<Outcome, Durations>
}

const durations = (): Durations => ({
  buckets: new Array(DURATION_BUCKETS.length + 1).fill(0),
  sum: 0,
  count: 0,
})

function newTally(kind: string, lane: Lane): Tally {
  return {
    labels: { kind, lane },
    counts: { claimed: 0, succeeded: 0, failed: 0, cancelled: 0 },
    reported: { claimed: 0, succeeded: 0, failed: 0, cancelled: 0 },
    durations: { succeeded: durations(), failed: durations(), cancelled: durations() },
  }
}

/**
 * `ops_worker_run_duration_seconds`, read from the tallies when the registry collects: the series a
 * prom-client histogram with labels kind, lane and outcome would export, for the outcomes observed.
 */
class DurationHistogram {
  readonly name = 'ops_worker_run_duration_seconds'
  readonly help = 'Handler time per run attempt, by kind, lane and outcome.'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  constructor(
    private readonly each: (fn: (t: Tally) => void) => void,
    private readonly clear: () => void,
  ) {}

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
    this.each((t) => {
      for (const outcome of ['succeeded', 'failed', 'cancelled'] as const) {
        const h = t.durations[outcome]
        if (h.count === 0) continue
        const labels = { ...t.labels, outcome }
        let acc = 0
        DURATION_BUCKETS.forEach((le, i) => {
          acc += h.buckets[i] as number
          values.push({ labels: { ...labels, le }, value: acc, metricName: `${this.name}_bucket` })
        })
        values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${this.name}_bucket` })
        values.push({ labels, value: h.sum, metricName: `${this.name}_sum` })
        values.push({ labels, value: h.count, metricName: `${this.name}_count` })
      }
    })
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** A registry's resetMetrics(): every tally starts again from zero. */
  reset() {
    this.clear()
  }
}
