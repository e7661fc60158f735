import {
  EnqueueForm,
  MetricsPanel,
  Runboard,
  RunDetails,
  SessionList,
  useSession,
} from '@ops-control-room/react'
import { useEffect, useState } from 'react'
import { useHashState } from './useHashState'

/** The Runboard app: sessions and the enqueue form on the left, four lanes, a run's details. */
export function App({ devMode }: { devMode: boolean }) {
  const [state, setState] = useHashState()
  const session = useSession(state.session)
  const laneHeight = useLaneHeight()

  // Escape closes the details panel.
  useEffect(() => {
    if (!state.run) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setState({ run: null })
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [state.run, setState])

  return (
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
      </header>
      <div className="app-body">
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
          <SessionList selectedId={state.session} onSelect={(s) => setState({ session: s.id, run: null })} />
          <EnqueueForm onEnqueued={({ session: s }) => s && setState({ session: s.id, run: null })} />
        </aside>
        <main id="runs" className="app-main" tabIndex={-1}>
          <h2 className="app-section-title">
            {state.session ? (session.data?.name ?? 'Session') : 'All recent runs'}
          </h2>
          <Runboard
            sessionId={state.session}
            selectedRunId={state.run}
            onOpenRun={(run) => setState({ run: run.id })}
            runHref={(run) => `#session=${run.sessionId}&run=${run.id}`}
            laneHeight={laneHeight}
          />
        </main>
        {state.run ? (
          <aside className="app-details" aria-label="Run details">
            <RunDetails runId={state.run} onClose={() => setState({ run: null })} />
          </aside>
        ) : null}
      </div>
    </div>
  )
}

/** Lanes fill the window's height (less the header), at least 320 px. */
function useLaneHeight(): number {
  const read = () => Math.max(320, window.innerHeight - 240)
  const [height, setHeight] = useState(read)
  useEffect(() => {
    const onResize = () => setHeight(read())
    window.addEventListener('resize', onResize)
    return () => window.removeEventListener('resize', onResize)
  }, [])
  return height
}
