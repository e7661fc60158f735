#!/usr/bin/env node
/**
 * `ops-worker`: a runnable worker configured by environment variables (`ops-worker --help` lists
 * them; `workerConfig.ts` reads them). SUPABASE_URL + SUPABASE_KEY talk to the ops-executor Edge
 * Function over HTTPS, DATABASE_URL connects directly.
 *
 * SIGTERM/SIGINT stop it gracefully (a second signal aborts in-flight runs at once). One JSON line
 * per lifecycle event goes to stdout. It exits non-zero when it cannot work (bad configuration,
 * database not migrated, credentials refused), so the platform restarts it or alerts.
 */
import { readFileSync } from 'node:fs'
import { createWorker } from '../createWorker'
import { startHealthServer } from '../healthServer'
import { loadHandlers } from '../loadHandlers'
import { parseWorkerConfig, WORKER_HELP, WorkerConfigError } from './workerConfig'
import {
  checkDatabase,
  describeStartupError,
  EXIT,
  openWorkerConnection,
  WorkerStartupError,
} from './workerConnection'

// The parent this process started under, read before anything else: read after the `ready` line,
// it could already be init's pid. Whoever waits for `ready` may end the parent at once, and on a busy
// machine this process can be descheduled between writing the line and reading its parent; the
// orphan watch below then compared against the new parent and never fired.
const startedUnder = process.ppid

const log = (msg: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), msg, ...extra })}\n`)

function fail(message: string, code: number = EXIT.config): never {
  process.stderr.write(`ops-worker: ${message}\n`)
  process.exit(code)
}

function packageVersion(): string | undefined {
  // src/bin/opsWorker.ts in the workspace, dist/opsWorker.js once built.
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === '@ops-control-room/worker') return pkg.version
    } catch {}
  }
  return process.env.npm_package_version
}

async function main() {
  let parsed: ReturnType<typeof parseWorkerConfig>
  try {
    parsed = parseWorkerConfig(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof WorkerConfigError) fail(err.message)
    throw err
  }
  if ('help' in parsed) {
    process.stdout.write(WORKER_HELP)
    return
  }
  if ('version' in parsed) {
    process.stdout.write(`${packageVersion() ?? 'unknown'}\n`)
    return
  }
  const config = parsed.config
  let handlerOptions: Record<string, unknown> = {}
  try {
    handlerOptions = process.env.OPS_HANDLER_OPTIONS ? JSON.parse(process.env.OPS_HANDLER_OPTIONS) : {}
  } catch {
    fail('OPS_HANDLER_OPTIONS must be a JSON object keyed by OPS_HANDLERS entry')
  }
  const handlers = await loadHandlers(config.handlers.join(','), { options: handlerOptions }).catch(
    (err: Error) => fail(err.message),
  )
  // Nothing runs by default: a worker executes only the kinds its operator named.
  if (handlers.length === 0) {
    fail(
      'set OPS_HANDLERS to the handlers to run: `shell`, module paths or packages (none is registered by default)',
    )
  }
  if (config.connection.mode === 'direct') await checkDatabase(config.connection)
  const connection = openWorkerConnection(config.connection, { artifactsDir: config.artifactsDir })
  const worker = createWorker({
    client: connection.client,
    workerId: config.workerId,
    lanes: config.lanes,
    concurrency: config.concurrency,
    prefetch: config.prefetch === 0 ? false : config.prefetch,
    handlers,
    artifactStore: connection.artifactStore,
    workspaceRoot: process.env.OPS_WORKSPACE_DIR || undefined,
    keepWorkspaces: process.env.OPS_KEEP_WORKSPACES === '1',
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutSeconds: config.heartbeatTimeoutSeconds,
    sweepIntervalMs: config.sweepIntervalMs === 0 ? false : config.sweepIntervalMs,
    pollIntervalMs: config.pollIntervalMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    abortGraceMs: config.abortGraceMs,
    version: packageVersion(),
  })
  worker.on('error', (err) => log('error', { error: err.message }))
  worker.on('run:failed', ({ run, error, retrying }) =>
    log('run failed', { runId: run.id, kind: run.kind, type: error.type, message: error.message, retrying }),
  )
  worker.on('run:abandoned', ({ run, cause }) => log('run abandoned', { runId: run.id, cause }))
  worker.on('sweep', ({ recovered }) => {
    if (recovered.length > 0) log('recovered stuck runs', { count: recovered.length })
  })

  try {
    await worker.start()
  } catch (err) {
    await connection.close().catch(() => {})
    throw describeStartupError(err)
  }
  const health =
    config.healthPort === undefined ? undefined : await startHealthServer(worker, { port: config.healthPort })
  log('ready', {
    workerId: worker.id,
    mode: config.connection.mode,
    lanes: worker.lanes,
    kinds: worker.kinds(),
    healthPort: health?.port,
  })

  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) {
      log('second signal: stopping now', { signal })
      void worker.stop({ timeoutMs: 0 })
      return
    }
    log('stopping', { signal })
    void (async () => {
      await worker.stop()
      await health?.close()
      await connection.close()
      log('stopped', { workerId: worker.id })
      process.exit(0)
    })()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // `npx ops-worker` runs this behind npm and a shell: a SIGTERM to npx ends those, not this
  // process. When the parent goes away, stop as SIGTERM would.
  const orphanWatch = setInterval(() => {
    if (process.ppid === startedUnder) return
    clearInterval(orphanWatch)
    onSignal('SIGTERM')
  }, 500)
  orphanWatch.unref()
}

main().catch((err) => {
  if (err instanceof WorkerStartupError) fail(err.message, err.exitCode)
  process.stderr.write(`ops-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(EXIT.unexpected)
})
