'use client'
import {
  LANES,
  type Lane,
  RUN_STATUSES,
  type Run,
  type RunStatus,
  type SessionStats,
} from '@ops-control-room/core/client'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { useLiveStatus } from '../hooks/useLiveStatus'
import { useNow } from '../hooks/useNow'
import { useRunList } from '../hooks/useRunList'
import { useSessionNames } from '../hooks/useSessionNames'
import { useSessionStats } from '../hooks/useSessionStats'
import { useWorkers } from '../hooks/useWorkers'
import type { RunListFilter } from '../store/runListStore'
import type { LiveStatus } from '../types'
import { workerState } from './FleetView'
import { RunCard } from './RunCard'
import { VirtualList } from './VirtualList'

export interface RunboardProps {
  /** Show this session's runs; without it, the newest runs of all sessions. */
  sessionId?: string
  /** Called when the user opens a run; shows a Details control on each card. */
  onOpenRun?: (run: Run) => void
  /** A URL for each run: Details becomes a link (open in a new tab works); a plain click calls onOpenRun. */
  runHref?: (run: Run) => string
  /** Highlights this run. */
  selectedRunId?: string
  /** Narrows the lists (status, kind, worker, text, time range, lanes). Counts stay the session's. */
  filter?: Omit<RunListFilter, 'sessionId'>
  /**
   * Runs per page and lane (more load as a lane is scrolled). Default: what fills `laneHeight`, plus
   * 8: every loaded row that changes is read again, so loading far past the view costs network.
   */
  pageSize?: number
  /** Height of a lane's scroll area in px. Default 560. */
  laneHeight?: number
  /** Selected runs for bulk actions: shows a checkbox on each card. */
  selection?: ReadonlySet<string>
  onSelectionChange?: (selection: Set<string>) => void
  /** Accessible name of the board. Default "Runboard". */
  label?: string
  /**
   * A running run whose registered worker has been silent this long (or has stopped) is marked at
   * risk on its card. Default 30 s, as in `FleetView`.
   */
  aliveMs?: number
}

/** Height of one card's row in a lane (cards are clipped to it so lists can be virtualised). */
export const RUN_CARD_HEIGHT = 152

const LIVE_LABEL: Record<LiveStatus, string> = {
  idle: 'Not live',
  connecting: 'Connecting…',
  live: 'Live',
  error: 'Reconnecting…',
  offline: 'Offline',
}

/**
 * Four lane columns of live run cards, right at any size: the counts come from the database
 * (`useSessionStats`), each lane is a virtualised list loaded a page at a time, and live changes
 * update what is loaded incrementally (`useRunList`). Status changes are announced politely to
 * screen readers, one summary per update.
 */
export function Runboard({
  sessionId,
  onOpenRun,
  runHref,
  selectedRunId,
  filter,
  pageSize,
  laneHeight = 560,
  selection,
  onSelectionChange,
  label = 'Runboard',
  aliveMs = 30_000,
}: RunboardProps) {
  const stats = useSessionStats({ sessionId })
  const list = useRunList(
    { ...filter, sessionId },
    { pageSize: pageSize ?? Math.ceil(laneHeight / RUN_CARD_HEIGHT) + 8 },
  )
  const live = useLiveStatus()
  const announcement = useStatusAnnouncement(stats.data)
  const lanes = filter?.lanes ?? LANES
  const loaded = useMemo(() => LANES.flatMap((l) => list.lanes[l].runs), [list.lanes])
  // Session names on the board of all sessions.
  const sessionNames = useSessionNames(
    useMemo(() => (sessionId === undefined ? loaded.map((r) => r.sessionId) : []), [sessionId, loaded]),
  )
  // At risk: running on a worker that is dead or stopped. Workers are read only while a
  // loaded run is running (heartbeats send no notifications: this polls).
  const anyRunning = loaded.some((r) => r.status === 'running')
  const workers = useWorkers({ enabled: anyRunning })
  const now = useNow(5000, anyRunning)
  const atRisk = useCallback(
    (run: Run): string | undefined => {
      if (run.status !== 'running' || !run.workerId || !workers.data) return undefined
      const w = workers.data.find((x) => x.id === run.workerId)
      // A worker that never registered is not known to be dead: no mark.
      if (!w) return undefined
      const state = workerState(w, now, aliveMs)
      if (state === 'alive' || state === 'stopping') return undefined
      return `worker ${w.id} is ${state}: last heartbeat ${new Date(w.lastSeenAt).toISOString()}; the run is recovered when its lease runs out`
    },
    [workers.data, now, aliveMs],
  )
  const countable = filter === undefined || Object.keys(filter).every((k) => k === 'status' || k === 'lanes')

  const laneCount = (lane: Lane): { n: number; exact: boolean } => {
    const l = list.lanes[lane]
    if (stats.data && countable) {
      const statuses = filter?.status ?? RUN_STATUSES
      return { n: statuses.reduce((sum, s) => sum + (stats.data?.lanes[lane][s] ?? 0), 0), exact: true }
    }
    return { n: l.runs.length, exact: !l.hasMore }
  }

  const toggle = useCallback(
    (run: Run, on: boolean) => {
      if (!onSelectionChange) return
      const next = new Set(selection)
      if (on) next.add(run.id)
      else next.delete(run.id)
      onSelectionChange(next)
    },
    [selection, onSelectionChange],
  )

  return (
    <section
      className="ocr-runboard"
      aria-label={label}
      aria-busy={list.status === 'pending' || stats.status === 'pending'}
    >
      <div className="ocr-runboard__bar">
        <span className="ocr-live" data-live={live}>
          {LIVE_LABEL[live]}
        </span>
        <RunCounts stats={stats.data} />
      </div>
      {list.status === 'error' || stats.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load runs: {(list.error ?? stats.error)?.message}
        </p>
      ) : null}
      <div className="ocr-runboard__lanes">
        {lanes.map((lane) => {
          const l = list.lanes[lane]
          const count = laneCount(lane)
          const headingId = `ocr-lane-${lane}-${sessionId ?? 'all'}`
          return (
            <section key={lane} className="ocr-lane" data-lane={lane} aria-labelledby={headingId}>
              <h3 id={headingId} className="ocr-lane__title">
                Lane {lane}{' '}
                <span className="ocr-lane__count" data-count={count.n}>
                  ({count.n.toLocaleString('en')}
                  {count.exact ? '' : '+'})
                </span>
              </h3>
              {l.runs.length === 0 ? (
                <p className="ocr-lane__empty">{list.status === 'pending' ? 'Loading…' : 'No runs'}</p>
              ) : (
                <VirtualList
                  items={l.runs}
                  itemHeight={RUN_CARD_HEIGHT}
                  maxHeight={laneHeight}
                  label={`Runs in lane ${lane}`}
                  setSize={count.exact ? count.n : undefined}
                  getKey={(run) => run.id}
                  onEndReached={l.hasMore ? () => void list.loadMore(lane) : undefined}
                  renderItem={(run) => (
                    <RunCard
                      run={run}
                      onOpen={onOpenRun}
                      href={runHref?.(run)}
                      selected={run.id === selectedRunId}
                      checked={onSelectionChange ? (selection?.has(run.id) ?? false) : undefined}
                      onCheckedChange={onSelectionChange ? toggle : undefined}
                      sessionName={
                        sessionId === undefined ? (sessionNames.get(run.sessionId) ?? '') : undefined
                      }
                      atRisk={atRisk(run)}
                    />
                  )}
                  footer={
                    l.hasMore ? (
                      <p className="ocr-lane__more">
                        {l.isLoadingMore
                          ? 'Loading more…'
                          : `${l.runs.length.toLocaleString('en')} loaded; scroll for more`}
                      </p>
                    ) : null
                  }
                />
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

function RunCounts({ stats }: { stats: SessionStats | undefined }) {
  return (
    <ul className="ocr-counts" aria-label="Runs by status" data-total={stats?.total}>
      {RUN_STATUSES.map((s) => (
        <li key={s} data-status={s}>
          {s}{' '}
          <strong data-count={stats?.byStatus[s] ?? ''}>
            {stats ? stats.byStatus[s].toLocaleString('en') : '…'}
          </strong>
        </li>
      ))}
    </ul>
  )
}

/** Summarises how the counts moved between updates: "2 runs succeeded, 1 run failed". */
function useStatusAnnouncement(stats: SessionStats | undefined): string {
  const previous = useRef<Record<RunStatus, number> | null>(null)
  const [text, setText] = useState('')
  useEffect(() => {
    if (!stats) return
    const before = previous.current
    previous.current = stats.byStatus
    if (!before) return
    const parts: string[] = []
    for (const s of RUN_STATUSES) {
      const n = stats.byStatus[s] - before[s]
      if (n > 0) parts.push(`${n} run${n === 1 ? '' : 's'} ${s}`)
    }
    if (parts.length > 0) setText(parts.join(', '))
  }, [stats])
  return text
}
