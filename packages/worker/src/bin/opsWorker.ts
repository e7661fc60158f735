#!/usr/bin/env node
/**
 * `ops-worker`: a runnable worker configured by environment variables.
 *
 *   DATABASE_URL               PostgreSQL URL (required)
 *   WORKER_ID                  unique in the fleet (default <host>-<pid>-<random>)
 *   OPS_LANES                  lanes to serve, e.g. `A,B` (default A,B,C,D)
 *   OPS_CONCURRENCY            per-lane concurrency: `4`, or `A=4,B=2` (default 4)
 *   OPS_HANDLERS               `shell` and/or module paths exporting handler definitions (default shell)
 *   OPS_HEALTH_PORT            serve /health and /metrics on this port (default: off)
 *   OPS_ARTIFACTS_DIR          keep artifact files here (default: in PostgreSQL)
 *   OPS_HEARTBEAT_INTERVAL_MS, OPS_HEARTBEAT_TIMEOUT_S, OPS_SWEEP_INTERVAL_MS, OPS_POLL_INTERVAL_MS,
 *   OPS_SHUTDOWN_TIMEOUT_MS, OPS_ABORT_GRACE_MS, OPS_DB_POOL
 *
 * SIGTERM/SIGINT stop it gracefully (a second signal aborts in-flight runs at once). One JSON line
 * per lifecycle event goes to stdout.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createOpsClient, LANES, type Lane } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createWorker } from '../createWorker'
import { startHealthServer } from '../healthServer'
import { shellHandler } from '../shellHandler'
import { filesystemArtifactStore } from '../stores/filesystemArtifactStore'
import { postgresArtifactStore } from '../stores/postgresArtifactStore'
import type { AnyHandler, Concurrency } from '../types'
import { handlersFromModule } from './handlerModule'

const env = process.env
const log = (msg: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), msg, ...extra })}\n`)

function fail(message: string): never {
  process.stderr.write(`ops-worker: ${message}\n`)
  process.exit(2)
}

const int = (name: string): number | undefined => {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a non-negative integer (got ${v})`)
  return n
}

function parseLanes(text: string | undefined): Lane[] {
  if (!text) return [...LANES]
  const lanes = text.split(',').map((s) => s.trim().toUpperCase())
  for (const l of lanes)
    if (!LANES.includes(l as Lane)) fail(`OPS_LANES: ${l} is not one of ${LANES.join(', ')}`)
  return lanes as Lane[]
}

function parseConcurrency(text: string | undefined): Concurrency | undefined {
  if (!text) return undefined
  if (/^\d+$/.test(text)) return Number(text)
  const out: Partial<Record<Lane, number>> = {}
  for (const part of text.split(',')) {
    const m = /^\s*([A-D])\s*=\s*(\d+)\s*$/i.exec(part)
    if (!m) fail(`OPS_CONCURRENCY: write a number or A=4,B=2 (got ${text})`)
    out[(m[1] as string).toUpperCase() as Lane] = Number(m[2])
  }
  return out
}

async function loadHandlers(text: string): Promise<AnyHandler[]> {
  const handlers: AnyHandler[] = []
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (entry === 'shell') {
      handlers.push(shellHandler)
      continue
    }
    const mod = (await import(pathToFileURL(resolve(entry)).href)) as Record<string, unknown>
    const list = handlersFromModule(mod)
    if (!list) {
      fail(`${entry} must export a handler (defineHandler) or a list of them as default, handlers or handler`)
    }
    handlers.push(...list)
  }
  return handlers
}

async function main() {
  const databaseUrl = env.DATABASE_URL
  if (!databaseUrl) fail('set DATABASE_URL to the PostgreSQL database of Ops Control Room')
  const handlers = await loadHandlers(env.OPS_HANDLERS ?? 'shell')
  const client = createOpsClient({
    backend: postgresBackend({ databaseUrl, max: int('OPS_DB_POOL') ?? 10, applicationName: 'ops-worker' }),
  })
  const store = env.OPS_ARTIFACTS_DIR
    ? filesystemArtifactStore({ root: env.OPS_ARTIFACTS_DIR })
    : postgresArtifactStore({ databaseUrl })
  const sweep = int('OPS_SWEEP_INTERVAL_MS')
  const worker = createWorker({
    client,
    workerId: env.WORKER_ID || undefined,
    lanes: parseLanes(env.OPS_LANES),
    concurrency: parseConcurrency(env.OPS_CONCURRENCY),
    handlers,
    artifactStore: store,
    heartbeatIntervalMs: int('OPS_HEARTBEAT_INTERVAL_MS'),
    heartbeatTimeoutSeconds: int('OPS_HEARTBEAT_TIMEOUT_S'),
    sweepIntervalMs: sweep === 0 ? false : sweep,
    pollIntervalMs: int('OPS_POLL_INTERVAL_MS'),
    shutdownTimeoutMs: int('OPS_SHUTDOWN_TIMEOUT_MS'),
    abortGraceMs: int('OPS_ABORT_GRACE_MS'),
    version: env.npm_package_version,
  })
  worker.on('error', (err) => log('error', { error: err.message }))
  worker.on('run:failed', ({ run, error, retrying }) =>
    log('run failed', { runId: run.id, kind: run.kind, type: error.type, message: error.message, retrying }),
  )
  worker.on('run:abandoned', ({ run, cause }) => log('run abandoned', { runId: run.id, cause }))
  worker.on('sweep', ({ recovered }) => {
    if (recovered.length > 0) log('recovered stuck runs', { count: recovered.length })
  })

  const healthPort = int('OPS_HEALTH_PORT')
  const health = healthPort === undefined ? undefined : await startHealthServer(worker, { port: healthPort })
  await worker.start()
  log('ready', { workerId: worker.id, lanes: worker.lanes, kinds: worker.kinds(), healthPort: health?.port })

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
      await (store as { close?: () => Promise<void> }).close?.()
      await client.close()
      log('stopped', { workerId: worker.id })
      process.exit(0)
    })()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // `npx ops-worker` runs this behind npm and a shell: a SIGTERM to npx ends those, not this
  // process. When the parent goes away, stop as SIGTERM would.
  const parent = process.ppid
  const orphanWatch = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(orphanWatch)
    onSignal('SIGTERM')
  }, 500)
  orphanWatch.unref()
}

main().catch((err) => {
  process.stderr.write(`ops-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
