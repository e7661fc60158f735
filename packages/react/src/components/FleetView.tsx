'use client'
import type { Run, WorkerInfo } from '@ops-control-room/core'
import { useId, useMemo } from 'react'
import { useNow } from '../hooks/useNow'
import { useQueryStore } from '../hooks/useQueryStore'
import { useWorkers } from '../hooks/useWorkers'
import { useOpsStore } from '../OpsProvider'
import { RelativeTime } from './RelativeTime'

export interface FleetViewProps {
  /** A worker counts as dead when not seen for this long (and not stopped). Default 30 s. */
  aliveMs?: number
  /** A URL for a run (its details). */
  runHref?: (run: Run) => string
}

/** A worker's state: alive, stopping (it said so, and still heartbeats), stopped, or dead (silent). */
export type WorkerState = 'alive' | 'stopping' | 'stopped' | 'dead'

/** Where a worker stands, from its registration and last heartbeat. */
export function workerState(worker: WorkerInfo, now: number, aliveMs = 30_000): WorkerState {
  const silent = now - Date.parse(worker.lastSeenAt) > aliveMs
  if (worker.stoppedAt !== null) return silent ? 'stopped' : 'stopping'
  return silent ? 'dead' : 'alive'
}

const slotsOf = (worker: WorkerInfo): [string, number][] =>
  Object.entries(worker.concurrency)
    .filter(([, n]) => typeof n === 'number')
    .map(([lane, n]) => [lane, n as number])

/**
 * The fleet: each worker with its lanes and slots, slots in use, version, last heartbeat, current runs
 * and state. A dead worker (silent past `aliveMs`, not stopped) shows as dead, and its runs as at
 * risk: they are recovered once their lease runs out, not "running". Reads every 5 s (heartbeats
 * send no notifications).
 */
export function FleetView({ aliveMs = 30_000, runHref }: FleetViewProps) {
  const ops = useOpsStore('FleetView')
  const workers = useWorkers()
  const running = useQueryStore(
    useMemo(
      () =>
        ops.query<Run[]>(['runs', 'fleet-running'], () => ({
          fetch: () => ops.client.runs.list({ status: 'running', limit: 1000 }),
          pollMs: ops.options.pollMs,
        })),
      [ops],
    ),
  )
  const now = useNow(5000)
  const headingId = useId()
  const byWorker = useMemo(() => {
    const m = new Map<string, Run[]>()
    for (const r of running.data ?? []) {
      if (!r.workerId) continue
      const list = m.get(r.workerId) ?? []
      list.push(r)
      m.set(r.workerId, list)
    }
    return m
  }, [running.data])
  const list = workers.data ?? []
  return (
    <section className="ocr-fleet" aria-labelledby={headingId}>
      <h2 id={headingId}>Workers</h2>
      {workers.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load workers: {workers.error?.message}
        </p>
      ) : null}
      {workers.data && list.length === 0 ? <p className="ocr-muted">No worker has registered yet.</p> : null}
      {list.length > 0 ? (
        <div className="ocr-fleet__scroll">
          <table className="ocr-fleet__table">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">State</th>
                <th scope="col">Lanes (slots)</th>
                <th scope="col">In use</th>
                <th scope="col">Version</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Current runs</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => {
                const state = workerState(w, now || Date.now(), aliveMs)
                const runs = byWorker.get(w.id) ?? []
                const slots = slotsOf(w)
                const total = slots.reduce((n, [, s]) => n + s, 0)
                return (
                  <tr key={w.id} data-worker-id={w.id} data-state={state}>
                    <th scope="row">
                      <span className="ocr-fleet__id">{w.id}</span>
                      {w.host ? <span className="ocr-muted"> {w.host}</span> : null}
                    </th>
                    <td>
                      <span className="ocr-worker-state" data-state={state}>
                        {state}
                      </span>
                    </td>
                    <td>
                      {slots.length ? slots.map(([l, n]) => `${l} ${n}`).join(' · ') : w.lanes.join(' · ')}
                    </td>
                    <td>
                      {runs.length}
                      {total ? ` / ${total}` : ''}
                    </td>
                    <td>{w.version ?? '—'}</td>
                    <td>
                      <RelativeTime iso={w.lastSeenAt} />
                    </td>
                    <td>
                      {runs.length === 0 ? (
                        '—'
                      ) : (
                        <ul className="ocr-fleet__runs">
                          {runs.slice(0, 10).map((r) => (
                            <li key={r.id} data-at-risk={state === 'dead' ? 'true' : undefined}>
                              {runHref ? (
                                <a href={runHref(r)}>{`${r.kind} #${r.seq}`}</a>
                              ) : (
                                `${r.kind} #${r.seq}`
                              )}
                              {state === 'dead' ? <strong className="ocr-error"> at risk</strong> : null}
                            </li>
                          ))}
                          {runs.length > 10 ? (
                            <li className="ocr-muted">and {runs.length - 10} more</li>
                          ) : null}
                        </ul>
                      )}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  )
}
