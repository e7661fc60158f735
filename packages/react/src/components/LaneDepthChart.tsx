'use client'
import { LANES, type Lane } from '@ops-control-room/core/client'
import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { useLaneHistory } from '../hooks/useLaneHistory'
import { useSessionStats } from '../hooks/useSessionStats'

export interface LaneDepthChartProps {
  sessionId?: string
  /** One point per this many ms (later counts in the same step replace it). Default 5 s. */
  stepMs?: number
  /** Points kept (the span shown is stepMs × points). Default 180 (15 minutes). */
  points?: number
}

interface Sample {
  t: number
  queued: Record<Lane, number>
}

const COLOURS: Record<Lane, string> = {
  A: 'var(--ocr-lane-a, #2563eb)',
  B: 'var(--ocr-lane-b, #d97706)',
  C: 'var(--ocr-lane-c, #059669)',
  D: 'var(--ocr-lane-d, #9333ea)',
}

/**
 * Queued runs per lane over time, a line per lane. On open it draws the last `stepMs × points`
 * (at most 24 h, in at most 240 points) as the database rebuilds it from the runs' timestamps
 * (`useLaneHistory`: one read; a run that went back to the queue and was claimed again since shows
 * only its first wait), then extends it with the live counts the board already reads
 * (`useSessionStats`: the same query, no extra request), one point per `stepMs`. The latest
 * figures are in the accessible name.
 */
export function LaneDepthChart({ sessionId, stepMs = 5000, points = 180 }: LaneDepthChartProps) {
  const stats = useSessionStats({ sessionId })
  const windowSeconds = Math.min(86_400, Math.max(60, Math.round((stepMs * points) / 1000)))
  const buckets = Math.min(240, points)
  const history = useLaneHistory({ sessionId, windowSeconds, buckets })
  const titleId = useId()
  const [live, setLive] = useState<Sample[]>([])
  const forSession = useRef(sessionId)
  useEffect(() => {
    if (forSession.current !== sessionId) {
      forSession.current = sessionId
      setLive([])
    }
    const data = stats.data
    if (!data) return
    const queued = Object.fromEntries(LANES.map((l) => [l, data.lanes[l].queued])) as Record<Lane, number>
    const t = Math.floor(stats.updatedAt / stepMs) * stepMs
    setLive((prev) => {
      const last = prev.at(-1)
      if (last && last.t === t) return [...prev.slice(0, -1), { t, queued }]
      return [...prev, { t, queued }].slice(-points)
    })
  }, [stats.data, stats.updatedAt, sessionId, stepMs, points])

  // The history's buckets end at the database's `at`, which is when the browser received it (less
  // the round trip): placed on the browser's clock from there, so a skewed clock cannot misplace it.
  const samples = useMemo(() => {
    const h = history.data
    if (!h || history.updatedAt === 0) return live
    const width = (h.windowSeconds * 1000) / h.buckets
    const end = history.updatedAt
    const past: Sample[] = Array.from({ length: h.buckets }, (_, i) => ({
      t: end - (h.buckets - 1 - i) * width,
      queued: Object.fromEntries(LANES.map((l) => [l, h.queued[l][i] ?? 0])) as Record<Lane, number>,
    }))
    const first = live[0]?.t ?? Number.POSITIVE_INFINITY
    return [...past.filter((p) => p.t < first), ...live].slice(-Math.max(points, h.buckets))
  }, [history.data, history.updatedAt, live, points])

  const width = 300
  const height = 60
  const max = Math.max(1, ...samples.flatMap((s) => LANES.map((l) => s.queued[l])))
  const t0 = samples[0]?.t ?? 0
  const span = Math.max(stepMs, (samples.at(-1)?.t ?? 0) - t0)
  const x = (t: number) => ((t - t0) / span) * width
  const y = (n: number) => height - 1 - (n / max) * (height - 2)
  const latest = samples.at(-1)
  const label = latest
    ? `Queued now: ${LANES.map((l) => `lane ${l} ${latest.queued[l]}`).join(', ')}; highest ${max} over the last ${Math.max(1, Math.round(span / 60_000))} min`
    : 'Loading queue depth'
  return (
    <figure className="ocr-chart ocr-chart--depth">
      <figcaption id={titleId} className="ocr-chart__caption">
        Queued per lane{' '}
        <span className="ocr-chart__legend">
          {LANES.map((l) => (
            <span key={l} data-lane={l} data-queued={latest?.queued[l]}>
              <span className="ocr-chart__swatch" style={{ background: COLOURS[l] }} /> {l}{' '}
              {latest ? latest.queued[l].toLocaleString('en') : '…'}
            </span>
          ))}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        className="ocr-chart__svg"
        role="img"
        aria-label={label}
        aria-describedby={titleId}
        preserveAspectRatio="none"
        data-points={samples.length}
        data-history={history.data ? history.data.buckets : undefined}
      >
        {LANES.map((l) =>
          samples.length === 0 ? null : (
            <polyline
              key={l}
              data-lane={l}
              fill="none"
              stroke={COLOURS[l]}
              strokeWidth={1.5}
              vectorEffect="non-scaling-stroke"
              points={(samples.length === 1
                ? [samples[0] as Sample, { ...(samples[0] as Sample), t: t0 + span }]
                : samples
              )
                .map((s) => `${x(s.t).toFixed(1)},${y(s.queued[l]).toFixed(1)}`)
                .join(' ')}
            />
          ),
        )}
      </svg>
    </figure>
  )
}
