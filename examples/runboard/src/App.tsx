import { isOpsError } from '@ops-control-room/core/client'
import {
  BulkActions,
  MetricsPanel,
  Runboard,
  type RunFilterState,
  RunFilters,
  SessionSource,
  TimeFormatProvider,
  toRunListFilter,
  useSession,
  useSessionStats,
} from '@ops-control-room/react'
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { useHashState } from './useHashState'

// Not on the first render's path: a chunk of their own (see LaterParts.tsx).
const later = () => import('./LaterParts')
const SidebarTools = lazy(() => later().then((m) => ({ default: m.SidebarTools })))
const Charts = lazy(() => later().then((m) => ({ default: m.Charts })))
const FleetView = lazy(() => later().then((m) => ({ default: m.FleetView })))
const RunDetails = lazy(() => later().then((m) => ({ default: m.Details })))

const FILTER_KEYS = ['status', 'lane', 'kind', 'workerId', 'search', 'range'] as const

/** The Runboard app: sessions and the enqueue form on the left, filters, four lanes, a run's details. */
export function App({ devMode }: { devMode: boolean }) {
  const [state, setState] = useHashState()
  const session = useSession(state.session)
  const settled = useBoardSettled(state.session)
  const laneHeight = useLaneHeight()
  const [selection, setSelection] = useState<Set<string>>(() => new Set())
  const [utc, setUtc] = useState(() => localStorage.getItem('runboard:utc') === '1')
  useEffect(() => localStorage.setItem('runboard:utc', utc ? '1' : '0'), [utc])
  const detailsRef = useRef<HTMLElement>(null)
  const openedFrom = useRef<string | null>(null)

  const filterState: RunFilterState = useMemo(() => {
    const f: RunFilterState = {}
    for (const k of FILTER_KEYS) if (state[k] !== undefined) (f as Record<string, unknown>)[k] = state[k]
    return f
  }, [state])
  const filterKey = JSON.stringify(filterState)
  // biome-ignore lint/correctness/useExhaustiveDependencies: filterKey stands for filterState
  const filter = useMemo(() => toRunListFilter(filterState), [filterKey])
  const matching = useMemo(() => ({ ...filter, sessionId: state.session }), [filter, state.session])
  const setFilter = useCallback(
    (next: RunFilterState) => {
      const patch: Record<string, unknown> = {}
      for (const k of FILTER_KEYS) patch[k] = next[k] ?? null
      setState(patch)
    },
    [setState],
  )

  const unknownSession = state.session !== undefined && session.status === 'error'
  const title = state.session
    ? unknownSession
      ? 'Unknown session'
      : (session.data?.name ?? 'Session')
    : 'All recent runs'
  useEffect(() => {
    document.title = `${title} · Runboard`
  }, [title])

  // A new session or filter: the old selection no longer means what it meant.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on session or filter change only
  useEffect(() => setSelection(new Set()), [state.session, filterKey])

  // Opening a run moves focus into its details (and scrolls them into view, on a phone too);
  // closing returns it to the run's card.
  useEffect(() => {
    if (state.run) detailsRef.current?.focus()
  }, [state.run])
  const closeDetails = useCallback(() => {
    const runId = state.run
    setState({ run: null })
    requestAnimationFrame(() => {
      const back =
        (runId &&
          document.querySelector<HTMLElement>(`article[data-run-id="${runId}"] .ocr-run__actions a`)) ||
        document.getElementById('runs')
      back?.focus()
    })
  }, [state.run, setState])

  useEffect(() => {
    if (!state.run) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') closeDetails()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [state.run, closeDetails])

  return (
    <TimeFormatProvider utc={utc}>
      <div className="app">
        <a className="skip-link" href="#runs">
          Skip to runs
        </a>
        <header className="app-header">
          <h1>
            Runboard <span className="app-subtitle">Ops Control Room</span>
          </h1>
          {devMode ? (
            <span className="app-badge" title="The browser holds a service_role token: local use only">
              dev mode
            </span>
          ) : null}
          <MetricsPanel sessionId={state.session} />
          <label className="app-utc">
            <input type="checkbox" checked={utc} onChange={(e) => setUtc(e.target.checked)} /> Times in UTC
          </label>
        </header>
        <div className={state.run ? 'app-body has-details' : 'app-body'}>
          {state.run ? (
            <aside className="app-details" aria-label="Run details" ref={detailsRef} tabIndex={-1}>
              <Suspense fallback={<p className="app-pending">Loading the run…</p>}>
                <RunDetails
                  runId={state.run}
                  onClose={closeDetails}
                  currentSession={session.data}
                  onReplayed={({ run, session: created }) =>
                    setState({ session: created?.id ?? run.sessionId, run: run.id })
                  }
                />
              </Suspense>
            </aside>
          ) : null}
          <aside className="app-sidebar" aria-label="Sessions and enqueue">
            <h2 className="app-section-title">Sessions</h2>
            <button
              type="button"
              className="ocr-button app-all"
              aria-pressed={!state.session}
              onClick={() => setState({ session: null, run: null })}
            >
              All recent runs
            </button>
            {settled ? (
              <Suspense fallback={<p className="app-pending">Loading sessions…</p>}>
                <SidebarTools
                  selectedId={state.session}
                  currentSession={session.data}
                  onSession={(id) => setState({ session: id, run: null })}
                />
              </Suspense>
            ) : (
              <p className="app-pending">Loading sessions…</p>
            )}
          </aside>
          <main id="runs" className="app-main" tabIndex={-1}>
            <nav className="app-views" aria-label="Views">
              <a href={viewHref(null)} aria-current={state.view !== 'workers' ? 'page' : undefined}>
                Runs
              </a>
              <a href={viewHref('workers')} aria-current={state.view === 'workers' ? 'page' : undefined}>
                Workers
              </a>
            </nav>
            {state.view === 'workers' ? (
              <Suspense fallback={<p className="app-pending">Loading the fleet…</p>}>
                <FleetView runHref={(run) => `#session=${run.sessionId}&run=${run.id}`} />
              </Suspense>
            ) : (
              <>
                <h2 className="app-section-title">{title}</h2>
                {state.session && !unknownSession ? <SessionSource session={session.data} /> : null}
                {unknownSession ? null : (
                  <div className="app-charts">
                    {settled ? (
                      <Suspense fallback={null}>
                        <Charts sessionId={state.session} />
                      </Suspense>
                    ) : null}
                  </div>
                )}
                {unknownSession ? (
                  <p role="alert" className="ocr-error app-unknown">
                    {isOpsError(session.error) && session.error.code === 'not_found'
                      ? `There is no session ${state.session}. It may have been deleted, or the link is wrong.`
                      : `Could not load session ${state.session}: ${session.error?.message}`}{' '}
                    <button
                      type="button"
                      className="ocr-link"
                      onClick={() => setState({ session: null, run: null })}
                    >
                      Show all recent runs
                    </button>
                  </p>
                ) : (
                  <>
                    <RunFilters value={filterState} onChange={setFilter} />
                    <BulkActions selection={selection} onSelectionChange={setSelection} filter={matching} />
                    <Runboard
                      sessionId={state.session}
                      filter={filter}
                      selectedRunId={state.run}
                      onOpenRun={(run) => {
                        openedFrom.current = run.id
                        setState({ run: run.id })
                      }}
                      runHref={(run) => `#session=${run.sessionId}&run=${run.id}`}
                      laneHeight={laneHeight}
                      selection={selection}
                      onSelectionChange={setSelection}
                    />
                  </>
                )}
              </>
            )}
          </main>
        </div>
      </div>
    </TimeFormatProvider>
  )
}

/**
 * False until the board's counts have loaded and been painted (or 1.5 s passed), then true for good. What only
 * completes the page (the session list, the enqueue form and its templates, the charts and their
 * history) mounts then: on first load, the browser's requests and the server's time go to the
 * counts and the first cards (the critical path at 100,000 runs), and the first render is smaller.
 */
function useBoardSettled(sessionId: string | undefined): boolean {
  const stats = useSessionStats({ sessionId })
  const [settled, setSettled] = useState(false)
  const loaded = stats.status !== 'pending'
  useEffect(() => {
    if (settled) return
    if (loaded) {
      // After the frame that shows the counts and cards: the rest must not lengthen that render.
      let timer: ReturnType<typeof setTimeout> | undefined
      const frame = requestAnimationFrame(() => {
        timer = setTimeout(() => setSettled(true), 0)
      })
      return () => {
        cancelAnimationFrame(frame)
        clearTimeout(timer)
      }
    }
    const timer = setTimeout(() => setSettled(true), 1500)
    return () => clearTimeout(timer)
  }, [loaded, settled])
  return settled
}

/** The current URL with another view (other hash keys kept). */
function viewHref(view: string | null): string {
  const p = new URLSearchParams(window.location.hash.replace(/^#/, ''))
  if (view) p.set('view', view)
  else p.delete('view')
  return `#${p.toString()}`
}

const readLaneHeight = () => Math.max(320, window.innerHeight - 300)

/** Lanes fill the window's height (less the header), at least 320 px. */
function useLaneHeight(): number {
  const [height, setHeight] = useState(readLaneHeight)
  useEffect(() => {
    const onResize = () => setHeight(readLaneHeight())
    window.addEventListener('resize', onResize)
    return () => window.removeEventListener('resize', onResize)
  }, [])
  return height
}
