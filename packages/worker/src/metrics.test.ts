import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createWorkerMetrics } from './metrics'

/** Each sample line as metric name, sorted labels and value: label order is not part of the format. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
      if (!m) throw new Error(`not a sample line: ${line}`)
      const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',')
      return `${m[1]}{${labels}} ${Number(m[3])}`
    })
    .sort()
}

const perRun = (text: string) =>
  samples(text).filter((l) =>
    /^ops_worker_(runs_(claimed|succeeded|failed|cancelled)_total|run_duration_seconds)/.test(l),
  )

describe('worker metrics', () => {
  it('export what prom-client counters and a histogram fed run by run would export', async () => {
    const metrics = createWorkerMetrics({ workerId: 'w-1', inFlight: () => ({}) })
    // The reference: the metrics as they were built before, one prom-client call per run.
    const reference = new Registry()
    reference.setDefaultLabels({ worker_id: 'w-1' })
    const counter = (name: string) =>
      new Counter({ name, help: 'h', labelNames: ['kind', 'lane'], registers: [reference] })
    const claimed = counter('ops_worker_runs_claimed_total')
    const outcomes = {
      succeeded: counter('ops_worker_runs_succeeded_total'),
      failed: counter('ops_worker_runs_failed_total'),
      cancelled: counter('ops_worker_runs_cancelled_total'),
    }
    const duration = new Histogram({
      name: 'ops_worker_run_duration_seconds',
      help: 'h',
      labelNames: ['kind', 'lane', 'outcome'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
      registers: [reference],
    })
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    const kinds = ['noop', 'lint', 'spec_kit_generate']
    const lanes = ['A', 'B', 'D'] as const
    const outcomeNames = ['succeeded', 'failed', 'cancelled'] as const
    // Bounds exactly, between them and beyond the last; scraped in the middle and at the end.
    const values = [0, 0.001, 0.0011, 0.005, 0.1, 0.7, 5, 29.9, 600, 3600, 7200]
    for (let scrape = 0; scrape < 2; scrape++) {
      for (let i = 0; i < 2000; i++) {
        const kind = kinds[Math.floor(random() * kinds.length)] as string
        const lane = lanes[Math.floor(random() * lanes.length)] as (typeof lanes)[number]
        metrics.claimed(kind, lane)
        claimed.inc({ kind, lane })
        if (random() < 0.2) continue
        const outcome = outcomeNames[Math.floor(random() * 3)] as (typeof outcomeNames)[number]
        const seconds = values[Math.floor(random() * values.length)] as number
        metrics.finished(kind, lane, outcome, seconds)
        outcomes[outcome].inc({ kind, lane })
        duration.observe({ kind, lane, outcome }, seconds)
      }
      const got = perRun(await metrics.registry.metrics())
      expect(got.length).toBeGreaterThan(100)
      expect(got).toEqual(perRun(await reference.metrics()))
    }
    // A reset starts every series again, as prom-client's would.
    metrics.registry.resetMetrics()
    reference.resetMetrics()
    metrics.claimed('noop', 'A')
    claimed.inc({ kind: 'noop', lane: 'A' })
    expect(perRun(await metrics.registry.metrics())).toEqual(perRun(await reference.metrics()))
  })

  it('are valid in the JSON form too', async () => {
    const metrics = createWorkerMetrics({ workerId: 'w-2', inFlight: () => ({ A: 1 }) })
    metrics.finished('noop', 'A', 'succeeded', 0.002)
    const json = await metrics.registry.getMetricsAsJSON()
    const histogram = json.find((m) => m.name === 'ops_worker_run_duration_seconds')
    expect(histogram?.type).toBe('histogram')
    expect(histogram?.values).toContainEqual(
      expect.objectContaining({
        metricName: 'ops_worker_run_duration_seconds_count',
        value: 1,
        labels: { kind: 'noop', lane: 'A', outcome: 'succeeded', worker_id: 'w-2' },
      }),
    )
  })
})
