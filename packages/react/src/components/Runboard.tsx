'use client'
import { LANES, type Lane, type Run, type RunStatus } from '@ops-control-room/core'
import { useEffect, useMemo, useRef, useState } from 'react'
import { useLiveStatus } from '../hooks/useLiveStatus'
import { useRuns } from '../hooks/useRuns'
import { RunCard } from './RunCard'

export interface RunboardProps {
  /** Show this session's runs; without it, the newest runs of all sessions. */
  sessionId?: string
  /** Called when the user opens a run; shows a Details button on each card. */
  onOpenRun?: (run: Run) => void
  /** Highlights this run. */
  selectedRunId?: string
  /** Most runs to load. Default 500. */
  limit?: number
  /** Accessible name of the board. Default "Runboard". */
  label?: string
}

const ORDER: Record<RunStatus, number> = { running: 0, queued: 1, failed: 2, cancelled: 3, succeeded: 4 }

/** Running first, then queued (claim order), then finished ones, newest first. */
function byBoardOrder(a: Run, b: Run): number {
  const o = ORDER[a.status] - ORDER[b.status]
  if (o !== 0) return o
  if (a.status === 'queued') return b.priority - a.priority || a.seq - b.seq
  return b.seq - a.seq
}

/**
 * Four lane columns of live run cards. Status changes are announced politely to screen readers
 * (a summary per batch of changes, not one announcement per run).
 */
export function Runboard({ sessionId, onOpenRun, selectedRunId, limit, label = 'Runboard' }: RunboardProps) {
  const runs = useRuns({ sessionId, limit })
  const live = useLiveStatus()
  const lanes = useMemo(() => {
    const by = new Map<Lane, Run[]>(LANES.map((l) => [l, []]))
    for (const run of runs.data ?? []) by.get(run.lane)?.push(run)
    for (const list of by.values()) list.sort(byBoardOrder)
    return by
  }, [runs.data])

  const announcement = useStatusAnnouncement(runs.data)

  return (
    <section className="ocr-runboard" aria-label={label} aria-busy={runs.status === 'pending'}>
      <div className="ocr-runboard__bar">
        <span className="ocr-live" data-live={live}>
          {live === 'live' ? 'Live' : live === 'error' ? 'Reconnecting…' : 'Connecting…'}
        </span>
        <RunCounts runs={runs.data} />
      </div>
      {runs.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load runs: {runs.error?.message}
        </p>
      ) : null}
      <div className="ocr-runboard__lanes">
        {LANES.map((lane) => {
          const list = lanes.get(lane) ?? []
          const headingId = `ocr-lane-${lane}-${sessionId ?? 'all'}`
          return (
            <section key={lane} className="ocr-lane" data-lane={lane} aria-labelledby={headingId}>
              <h3 id={headingId} className="ocr-lane__title">
                Lane {lane} <span className="ocr-lane__count">({list.length})</span>
              </h3>
              {list.length === 0 ? (
                <p className="ocr-lane__empty">{runs.status === 'pending' ? 'Loading…' : 'No runs'}</p>
              ) : (
                <ul className="ocr-lane__runs">
                  {list.map((run) => (
                    <li key={run.id}>
                      <RunCard run={run} onOpen={onOpenRun} selected={run.id === selectedRunId} />
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )
        })}
      </div>
      <div role="status" aria-live="polite" className="ocr-sr-only">
        {announcement}
      </div>
    </section>
  )
}

function RunCounts({ runs }: { runs: Run[] | undefined }) {
  const counts = useMemo(() => {
    const c: Record<RunStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 }
    for (const r of runs ?? []) c[r.status]++
    return c
  }, [runs])
  return (
    <ul className="ocr-counts" aria-label="Runs by status">
      {(Object.keys(counts) as RunStatus[]).map((s) => (
        <li key={s} data-status={s}>
          {s} <strong>{counts[s]}</strong>
        </li>
      ))}
    </ul>
  )
}

/** Summarises status changes between snapshots: "2 runs succeeded, 1 run failed". */
function useStatusAnnouncement(runs: Run[] | undefined): string {
  const previous = useRef<Map<string, RunStatus> | null>(null)
  const [text, setText] = useState('')
  useEffect(() => {
    if (!runs) return
    const next = new Map(runs.map((r) => [r.id, r.status]))
    const before = previous.current
    previous.current = next
    if (!before) return
    const changed = new Map<RunStatus, number>()
    for (const [id, status] of next) {
      if (before.get(id) !== status) changed.set(status, (changed.get(status) ?? 0) + 1)
    }
    if (changed.size === 0) return
    setText(
      [...changed]
        .map(([status, n]) => `${n} run${n === 1 ? '' : 's'} ${status === 'queued' ? 'queued' : status}`)
        .join(', '),
    )
  }, [runs])
  return text
}
