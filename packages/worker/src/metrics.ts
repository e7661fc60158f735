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
  const claimed = new Counter({
    name: 'ops_worker_runs_claimed_total',
    help: 'Runs claimed, by kind and lane.',
    labelNames: ['kind', 'lane'],
    registers: [registry],
  })
  const outcomes = {
    succeeded: new Counter({
      name: 'ops_worker_runs_succeeded_total',
      help: 'Runs that succeeded, by kind and lane.',
      labelNames: ['kind', 'lane'],
      registers: [registry],
    }),
    failed: new Counter({
      name: 'ops_worker_runs_failed_total',
      help: 'Run attempts that failed (retried or final), by kind and lane.',
      labelNames: ['kind', 'lane'],
      registers: [registry],
    }),
    cancelled: new Counter({
      name: 'ops_worker_runs_cancelled_total',
      help: 'Runs cancelled while running here, by kind and lane.',
      labelNames: ['kind', 'lane'],
      registers: [registry],
    }),
  }
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
  const duration = new Histogram({
    name: 'ops_worker_run_duration_seconds',
    help: 'Handler time per run attempt, by kind, lane and outcome.',
    labelNames: ['kind', 'lane', 'outcome'],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [registry],
  })
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
    claimed: (kind, lane) => claimed.inc({ kind, lane }),
    finished(kind, lane, outcome, seconds) {
      outcomes[outcome].inc({ kind, lane })
      duration.observe({ kind, lane, outcome }, seconds)
    },
    heartbeat: (seconds) => heartbeat.observe(seconds),
    recovered: (count) => {
      if (count > 0) recoveries.inc(count)
    },
  }
}
