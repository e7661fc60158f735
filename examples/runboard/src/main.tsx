import { createOpsClient, httpArtifactStore, httpBackend } from '@ops-control-room/core/client'
import { OpsProvider } from '@ops-control-room/react'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import '@ops-control-room/react/styles.css'
import './app.css'
import { App } from './App'
import { loadConfig } from './config'

const root = createRoot(document.getElementById('root') as HTMLElement)

loadConfig().then(
  (config) => {
    // digestMs: the server folds run changes into a few digests a second per session, so a board
    // left open on a session draining 100,000 runs stays light on the network.
    const client = createOpsClient({
      backend: httpBackend({ url: config.apiUrl, token: config.token, digestMs: 150 }),
    })
    const artifactStore = httpArtifactStore({ url: config.apiUrl, token: config.token })
    root.render(
      <StrictMode>
        <OpsProvider client={client} artifactStore={artifactStore}>
          <App devMode={config.mode === 'dev'} />
        </OpsProvider>
      </StrictMode>,
    )
  },
  (err: unknown) => {
    root.render(
      <main className="app-error" role="alert">
        <h1>Runboard</h1>
        <p>{err instanceof Error ? err.message : String(err)}</p>
      </main>,
    )
  },
)
