import { mkdirSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ArtifactBody,
  type ArtifactStore,
  type EventLevel,
  isOpsError,
  type OpsClient,
  type Run,
  toByteStream,
} from '@ops-control-room/core'
import type { EventBuffer } from './eventBuffer'
import { HandlerError } from './handlerError'
import { createRunSecrets } from './runSecrets'
import type { HandlerContext, RunArtifacts, RunLogger, RunSecrets, SecretSource } from './types'

export interface RunContextOptions {
  run: Run
  params: unknown
  /** The run's AbortSignal, made on first read. */
  signal(): AbortSignal
  workerId: string
  events: EventBuffer
  client: OpsClient
  artifactStore: ArtifactStore | undefined
  /** A write was refused because the lease is no longer current: the execution has lost its run. */
  onLeaseLost?(): void
  /** Parent of per-run workspaces. Default `<os tmpdir>/ops-workspaces`. */
  workspaceRoot?: string
  /** Keep the workspace after the run, for debugging. */
  keepWorkspace?: boolean
  secrets?: SecretSource
}

/** A run's context and what to do once the run is over. */
export interface RunContextHandle {
  ctx: HandlerContext
  /** Removes the run's workspace, if one was created and is not kept. Never throws. */
  dispose(): Promise<void>
}

/** A body that errors with the signal's reason as soon as it aborts, so a store stops reading. */
function abortable(body: ArtifactBody, signal: AbortSignal): ReadableStream<Uint8Array> {
  const reader = toByteStream(body).getReader()
  let onAbort: (() => void) | undefined
  return new ReadableStream<Uint8Array>({
    start(controller) {
      onAbort = () => {
        controller.error(signal.reason)
        void reader.cancel(signal.reason).catch(() => {})
      }
      signal.addEventListener('abort', onAbort, { once: true })
    },
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) {
        if (onAbort) signal.removeEventListener('abort', onAbort)
        controller.close()
      } else controller.enqueue(value)
    },
    async cancel(reason) {
      if (onAbort) signal.removeEventListener('abort', onAbort)
      await reader.cancel(reason)
    },
  })
}

/** Builds the `ctx` a handler receives: params, signal, a batched logger, progress and artifacts. */
export function createRunContext(options: RunContextOptions): HandlerContext {
  return createRunContextHandle(options).ctx
}

/**
 * Builds the `ctx` a handler receives (params, signal, a batched logger, progress, artifacts, a
 * workspace, secrets) and a `dispose` to call once the run is over.
 */
export function createRunContextHandle(options: RunContextOptions): RunContextHandle {
  const { run, events } = options
  if (!run.lease) throw new TypeError(`run ${run.id} has no lease: only claimed runs can be executed`)
  const lease = run.lease
  let workspace: string | undefined
  let log: RunLogger | undefined
  let artifacts: RunArtifacts | undefined
  let secrets: RunSecrets | undefined
  // The logger, artifact helpers and secrets are built when the handler first reads them: a handler
  // starts on an idle worker's pickup path, and building them all up front cost ~30 µs of it.
  const ctx: HandlerContext = {
    params: options.params,
    run,
    get signal() {
      return options.signal()
    },
    get log() {
      log ??= createLogger(events, run.id, lease)
      return log
    },
    progress: (value, message) => events.progress({ id: run.id, lease }, value, message),
    get artifacts() {
      artifacts ??= createArtifacts(options, lease)
      return artifacts
    },
    workerId: options.workerId,
    get workspace() {
      if (workspace === undefined) {
        const root = options.workspaceRoot ?? join(tmpdir(), 'ops-workspaces')
        // Run id and attempt name it for whoever debugs a kept one; the random tail keeps two
        // workers on one machine (or a lost lease re-claimed here) from sharing it.
        const dir = join(root, `${run.id}-${run.attempt}-${Math.random().toString(36).slice(2, 10)}`)
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        workspace = dir
      }
      return workspace
    },
    get secrets() {
      secrets ??= createRunSecrets(options.secrets)
      return secrets
    },
  }
  return {
    ctx,
    async dispose() {
      if (workspace === undefined || options.keepWorkspace) return
      const dir = workspace
      await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {
        try {
          rmSync(dir, { recursive: true, force: true })
        } catch {
          // Left for the OS's tmp cleaner; never fails the run.
        }
      })
    },
  }
}

function createLogger(events: EventBuffer, runId: string, lease: string): RunLogger {
  const emit = (level: EventLevel, type: string, message: string, data?: unknown) =>
    events.push({ runId, lease, level, type, message, data, at: new Date().toISOString() })
  return {
    debug: (message, data) => emit('debug', 'log', message, data),
    info: (message, data) => emit('info', 'log', message, data),
    warn: (message, data) => emit('warn', 'log', message, data),
    error: (message, data) => emit('error', 'log', message, data),
    event: (type, message, o = {}) => emit(o.level ?? 'info', type, message, o.data),
  }
}

function createArtifacts(options: RunContextOptions, lease: string): RunArtifacts {
  const { run, events, client } = options

  const record = async (
    artifact: Parameters<OpsClient['worker']['createArtifacts']>[0]['artifacts'][number],
  ) => {
    // Events logged before the artifact keep their place in the run's history.
    await events.flush()
    try {
      const [created] = await client.worker.createArtifacts({ artifacts: [{ ...artifact, lease }] })
      if (!created) throw new Error('the database recorded no artifact')
      return created
    } catch (err) {
      if (isOpsError(err) && err.code === 'lease_lost') options.onLeaseLost?.()
      throw err
    }
  }

  const artifacts: RunArtifacts = {
    async put(input) {
      const store = options.artifactStore
      if (!store) {
        // A configuration mistake, not a bad moment: retrying cannot help, so the run fails now.
        throw new HandlerError({
          type: 'artifact_store_missing',
          message:
            'ctx.artifacts.put needs an artifact store: createWorker({ artifactStore: postgresArtifactStore({ databaseUrl }) or filesystemArtifactStore({ root }) })',
          retry: false,
        })
      }
      const signal = options.signal()
      if (signal.aborted) throw signal.reason
      const contentType = input.contentType ?? 'application/octet-stream'
      const stored = await store.put({
        runId: run.id,
        name: input.name,
        contentType,
        body: abortable(input.body, signal),
      })
      try {
        // Stored just as the run was cancelled: do not record it.
        if (signal.aborted) throw signal.reason
        const created = await record({
          runId: run.id,
          name: input.name,
          kind: 'file',
          contentType,
          size: stored.size,
          sha256: stored.sha256,
          storagePath: stored.storagePath,
          metadata: { store: store.kind, ...input.metadata },
        })
        return { id: created.id, storagePath: stored.storagePath, size: stored.size, sha256: stored.sha256 }
      } catch (err) {
        // Content no row points to is garbage: remove it.
        await store.delete([stored.storagePath]).catch(() => {})
        throw err
      }
    },
    async text(input) {
      const created = await record({
        runId: run.id,
        name: input.name,
        kind: 'text',
        text: input.text,
        ...(input.contentType ? { contentType: input.contentType } : {}),
      })
      return { id: created.id }
    },
    async link(input) {
      const created = await record({ runId: run.id, name: input.name, kind: 'link', url: input.url })
      return { id: created.id }
    },
    async list() {
      const found = await client.artifacts.list({ runId: run.id })
      return [...found].sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    },
  }

  return artifacts
}
