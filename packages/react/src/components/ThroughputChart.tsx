'use client'
import { useId } from 'react'
import { useSessionStats } from '../hooks/useSessionStats'

export interface ThroughputChartProps {
  sessionId?: string
  /** The span shown, in ms. Default 15 minutes. */
  windowMs?: number
  /** Bars across the span. Default 30. */
  buckets?: number
  /** Re-read interval in ms. Default 10 s. */
  pollMs?: number
}

/**
 * Runs finished per time bucket (failed ones in the danger colour) over a recent span, drawn from
 * the database's aggregates (`useSessionStats` with buckets, read every `pollMs`, not on every
 * change). The numbers are in the accessible name and in each bar's tooltip.
 */
export function ThroughputChart({
  sessionId,
  windowMs = 15 * 60_000,
  buckets = 30,
  pollMs = 10_000,
}: ThroughputChartProps) {
  const stats = useSessionStats({ sessionId, windowMs, buckets, live: false, pollMs })
  const titleId = useId()
  const series = stats.data?.series ?? []
  const max = Math.max(1, ...series.map((b) => b.finished))
  const total = series.reduce((n, b) => n + b.finished, 0)
  const failed = series.reduce((n, b) => n + b.failed, 0)
  const minutes = Math.round(windowMs / 60_000)
  const width = 300
  const height = 60
  const bar = width / Math.max(1, buckets)
  const label = stats.data
    ? `${total} runs finished in the last ${minutes} minutes, ${failed} failed; busiest bucket ${max}`
    : 'Loading throughput'
  return (
    <figure className="ocr-chart">
      <figcaption id={titleId} className="ocr-chart__caption">
        Finished per {Math.round(windowMs / buckets / 1000)} s, last {minutes} min
      </figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        className="ocr-chart__svg"
        role="img"
        aria-label={label}
        aria-describedby={titleId}
        preserveAspectRatio="none"
      >
        {series.map((b, i) => {
          const h = (b.finished / max) * (height - 2)
          const hf = (b.failed / max) * (height - 2)
          return (
            <g key={b.start}>
              <title>{`${new Date(b.start).toLocaleTimeString()}: ${b.finished} finished, ${b.failed} failed`}</title>
              <rect
                x={i * bar + 0.5}
                y={height - h}
                width={Math.max(1, bar - 1)}
                height={h}
                className="ocr-chart__bar"
              />
              {b.failed > 0 ? (
                <rect
                  x={i * bar + 0.5}
                  y={height - hf}
                  width={Math.max(1, bar - 1)}
                  height={hf}
                  className="ocr-chart__bar--failed"
                />
              ) : null}
            </g>
          )
        })}
      </svg>
    </figure>
  )
}
