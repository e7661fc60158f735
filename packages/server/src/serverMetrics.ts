import type { ServerResponse } from 'node:http'
import { matchRoute, type QueueStats } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import type postgres from 'postgres'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Prometheus metrics of the server: API latency, and the queue as `ops.queue_stats` sees it. */
export interface ServerMetrics {
  readonly registry: Registry
  /** Records one API request (the route's path pattern, never the raw URL: labels stay bounded). */
  observeRequest(method: string, path: string, status: number, seconds: number): void
  /** p95 of the API requests of the last five minutes (at most the last 2,000), or undefined. */
  apiP95Seconds(): number | undefined
  /** The latest queue stats, read at most once per `cacheMs`. */
  stats(): Promise<QueueStats>
  /** Serves `/livez` and `/metrics`; returns false for any other path. */
  handle(res: ServerResponse, path: string): boolean
}

/** Options of {@link createServerMetrics}. */
export interface ServerMetricsOptions {
  sql: postgres.Sql
  /** The window of finished runs, error rate and recoveries. Default 300 s. */
  windowSeconds?: number
  /** Scrapes within this long share one query. Default 5 s. */
  cacheMs?: number
}

/**
 * Creates the server's metrics. `/metrics` reads `ops.queue_stats` once per scrape (cached briefly,
 * so several scrapers cost one query) and answers 503 when the database is down, so the scrape
 * fails visibly instead of reporting stale numbers. `/livez` answers while the process does.
 *
 * @example
 * const metrics = createServerMetrics({ sql })
 * if (!metrics.handle(res, path)) handler(req, res)
 */
export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const registry = new Registry()
  const windowSeconds = options.windowSeconds ?? 300
  const cacheMs = options.cacheMs ?? 5000
  const prefix = 'ops_'

  const requestDuration = new Histogram({
    name: `${prefix}api_request_duration_seconds`,
    help: 'Executor API request duration, by route.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const requests = new Counter({
    name: `${prefix}api_requests_total`,
    help: 'Executor API requests, by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  const g = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name: `${prefix}${name}`, help, labelNames, registers: [registry] })
  const queued = g('queue_queued', 'Queued runs, by lane and kind.', ['lane', 'kind'])
  const running = g('queue_running', 'Running runs, by lane and kind.', ['lane', 'kind'])
  const oldest = g('queue_oldest_queued_seconds', 'Age of the oldest due queued run, by lane and kind.', [
    'lane',
    'kind',
  ])
  const queuedTotal = g('queue_queued_total', 'Queued runs in all lanes.')
  const finished = g('runs_finished_window', 'Runs finished in the stats window, by lane, kind and status.', [
    'lane',
    'kind',
    'status',
  ])
  const windowGauge = g('stats_window_seconds', 'The window of the *_window metrics, in seconds.')
  const throughput = g(
    'runs_finished_per_minute',
    'Runs that succeeded or failed per minute, over the window.',
  )
  const errorRate = g('runs_error_rate', 'failed / (succeeded + failed) over the window.')
  const recoveries = g('recoveries_window', 'Stuck-run recoveries in the window.')
  const recoveryMax = g(
    'recovery_max_seconds',
    'Longest stuck-run recovery in the window (last heartbeat to sweep).',
  )
  const workers = g(
    'workers',
    'Workers by state: live (heartbeat in 30 s) or stale (silent 30 s to 5 min, never stopped).',
    ['state'],
  )
  const workerHealth = g('worker_health_ratio', 'live / (live + stale) workers; 1 with none.')
  const up = g('stats_up', '1 when the last ops.queue_stats read succeeded.')

  // Borrows the server's pool (not closed with it): the same typed read the client makes.
  const backend = postgresBackend({ sql: options.sql })
  let cached: { at: number; value: Promise<QueueStats> } | undefined
  // Recent request durations for the built-in notifier's p95 (Prometheus computes its own).
  const RECENT = 2000
  const recent: { at: number; seconds: number }[] = []
  let recentNext = 0
  const stats = (): Promise<QueueStats> => {
    const now = Date.now()
    if (cached && now - cached.at < cacheMs) return cached.value
    const value = backend.queueStats({ windowSeconds })
    cached = { at: now, value }
    // A failure is not cached: the next scrape asks again.
    value.catch(() => {
      if (cached?.value === value) cached = undefined
    })
    return value
  }

  function update(s: QueueStats) {
    for (const m of [queued, running, oldest, finished]) m.reset()
    for (const q of s.queues) {
      queued.set({ lane: q.lane, kind: q.kind }, q.queued)
      running.set({ lane: q.lane, kind: q.kind }, q.running)
      if (q.oldestQueuedSeconds !== null) oldest.set({ lane: q.lane, kind: q.kind }, q.oldestQueuedSeconds)
    }
    for (const f of s.finished) {
      finished.set({ lane: f.lane, kind: f.kind, status: 'succeeded' }, f.succeeded)
      finished.set({ lane: f.lane, kind: f.kind, status: 'failed' }, f.failed)
      finished.set({ lane: f.lane, kind: f.kind, status: 'cancelled' }, f.cancelled)
    }
    queuedTotal.set(s.queued)
    windowGauge.set(s.windowSeconds)
    throughput.set(((s.succeeded + s.failed) * 60) / s.windowSeconds)
    errorRate.set(s.errorRate)
    recoveries.set(s.recovery.count)
    recoveryMax.set(s.recovery.maxSeconds)
    workers.set({ state: 'live' }, s.workers.live)
    workers.set({ state: 'stale' }, s.workers.stale)
    workerHealth.set(s.workers.health)
  }

  return {
    registry,
    stats,
    observeRequest(method, path, status, seconds) {
      const match = matchRoute(method, path)
      const route = match && 'route' in match ? match.route.path : 'other'
      const labels = { method, route, status: String(status) }
      requestDuration.observe(labels, seconds)
      requests.inc(labels)
      if (route === '/changes') return
      const sample = { at: Date.now(), seconds }
      if (recent.length < RECENT) recent.push(sample)
      else recent[recentNext] = sample
      recentNext = (recentNext + 1) % RECENT
    },
    apiP95Seconds() {
      const since = Date.now() - 300_000
      const window = recent.filter((r) => r.at >= since).map((r) => r.seconds)
      if (window.length === 0) return undefined
      window.sort((a, b) => a - b)
      return window[Math.min(window.length - 1, Math.ceil(window.length * 0.95) - 1)]
    },
    handle(res, path) {
      if (path === '/livez') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
        return true
      }
      if (path !== '/metrics') return false
      stats().then(
        async (s) => {
          update(s)
          up.set(1)
          res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics())
        },
        async (err) => {
          up.set(0)
          res
            .writeHead(503, { 'content-type': 'text/plain' })
            .end(`ops.queue_stats failed: ${err instanceof Error ? err.message : String(err)}\n`)
        },
      )
      return true
    },
  }
}
