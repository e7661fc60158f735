'use client'
import { useId, useMemo } from 'react'
import { useNow } from '../hooks/useNow'
import { useRuns } from '../hooks/useRuns'
import { useWorkers } from '../hooks/useWorkers'
import { formatDuration } from './format'
import { computeMetrics } from './metrics'

export interface MetricsPanelProps {
  /** Metrics of this session's runs; without it, of the newest runs of all sessions. */
  sessionId?: string
  /** The throughput and error-rate window in ms. Default 5 minutes. */
  windowMs?: number
}

/** Throughput, error rate, in flight, workers alive and the last recovery, kept live. */
export function MetricsPanel({ sessionId, windowMs = 5 * 60_000 }: MetricsPanelProps) {
  const runs = useRuns({ sessionId })
  const workers = useWorkers()
  const now = useNow(5000)
  const headingId = useId()
  const m = useMemo(
    () => computeMetrics(runs.data ?? [], workers.data ?? [], now || Date.now(), { windowMs }),
    [runs.data, workers.data, now, windowMs],
  )
  const items: [string, string, string][] = [
    ['throughput', 'Throughput', `${m.throughputPerMinute.toFixed(1)}/min`],
    ['error-rate', 'Error rate', m.errorRate === null ? '—' : `${(m.errorRate * 100).toFixed(1)}%`],
    ['in-flight', 'In flight', String(m.inFlight)],
    ['queued', 'Queued', String(m.queued)],
    ['workers', 'Workers alive', String(m.workersAlive)],
    [
      'last-recovery',
      'Last recovery',
      m.lastRecovery ? `${formatDuration((now || Date.now()) - Date.parse(m.lastRecovery.at))} ago` : 'none',
    ],
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
