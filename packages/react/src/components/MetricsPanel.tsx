'use client'
import { useId } from 'react'
import { useNow } from '../hooks/useNow'
import { useSessionStats } from '../hooks/useSessionStats'
import { useWorkers } from '../hooks/useWorkers'

export interface MetricsPanelProps {
  /** Metrics of this session's runs; without it, of every run. */
  sessionId?: string
  /** The throughput and error-rate window in ms. Default 5 minutes. */
  windowMs?: number
  /** A worker counts as alive when seen within this many ms. Default 30 s. */
  aliveMs?: number
}

/**
 * Throughput, error rate, in flight, queued and workers alive, kept live. The figures come from the
 * database (`useSessionStats`), so they are true at any size.
 */
export function MetricsPanel({ sessionId, windowMs = 5 * 60_000, aliveMs = 30_000 }: MetricsPanelProps) {
  const stats = useSessionStats({ sessionId, windowMs })
  const workers = useWorkers()
  const now = useNow(5000)
  const headingId = useId()
  const s = stats.data
  const alive = (workers.data ?? []).filter(
    (w) => w.stoppedAt === null && (now || Date.now()) - Date.parse(w.lastSeenAt) <= aliveMs,
  ).length
  const items: [string, string, string][] = [
    ['throughput', 'Throughput', s ? `${s.throughputPerMinute.toFixed(1)}/min` : '…'],
    [
      'error-rate',
      'Error rate',
      !s ? '…' : s.errorRate === null ? '—' : `${(s.errorRate * 100).toFixed(1)}%`,
    ],
    ['in-flight', 'In flight', s ? s.byStatus.running.toLocaleString('en') : '…'],
    ['queued', 'Queued', s ? s.byStatus.queued.toLocaleString('en') : '…'],
    ['workers', 'Workers alive', workers.data ? String(alive) : '…'],
  ]
  return (
    <section className="ocr-metrics" aria-labelledby={headingId}>
      <h2 id={headingId} className="ocr-sr-only">
        Metrics
      </h2>
      <dl>
        {items.map(([key, label, value]) => (
          <div key={key} data-metric={key}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  )
}
