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

/**
 * A run's `ctx`. Its parts are getters on the class, built when the handler first reads them: a
 * handler starts on an idle worker's pickup path, and building them all up front cost ~30 µs of it;
 * and a busy worker makes thousands a second, where an object literal with its own getters and
 * closures was 4 % of the worker's CPU at concurrency 100. Destructuring (`run: ({ params, log,
 * progress }) => …`) reads the getters as before.
 */
export class RunContext implements HandlerContext {
  readonly params: unknown
  readonly run: Run
  readonly workerId: string
  readonly #options: RunContextOptions
  readonly #lease: string
  #log: RunLogger | undefined = undefined
  #artifacts: RunArtifacts | undefined = undefined
  #secrets: RunSecrets | undefined = undefined
  #workspace: string | undefined = undefined
  #progress: HandlerContext['progress'] | undefined = undefined

  constructor(options: RunContextOptions) {
    const { run } = options
    if (!run.lease) throw new TypeError(`run ${run.id} has no lease: only claimed runs can be executed`)
    this.params = options.params
    this.run = run
    this.workerId = options.workerId
    this.#options = options
    this.#lease = run.lease
  }

  get signal(): AbortSignal {
    return this.#options.signal()
  }

  get log(): RunLogger {
    this.#log ??= createLogger(this.#options.events, this.run.id, this.#lease)
    return this.#log
  }

  /** A getter, so that `const { progress } = ctx` keeps working. */
  get progress(): HandlerContext['progress'] {
    if (!this.#progress) {
      const { events } = this.#options
      const held = { id: this.run.id, lease: this.#lease }
      this.#progress = (value, message) => events.progress(held, value, message)
    }
    return this.#progress
  }

  get artifacts(): RunArtifacts {
    this.#artifacts ??= createArtifacts(this.#options, this.#lease)
    return this.#artifacts
  }

  get workspace(): string {
    if (this.#workspace === undefined) {
      const { run } = this
      const root = this.#options.workspaceRoot ?? join(tmpdir(), 'ops-workspaces')
      // Run id and attempt name it for whoever debugs a kept one; the random tail keeps two
      // workers on one machine (or a lost lease re-claimed here) from sharing it.
      const dir = join(root, `${run.id}-${run.attempt}-${Math.random().toString(36).slice(2, 10)}`)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      this.#workspace = dir
    }
    return this.#workspace
  }

  get secrets(): RunSecrets {
    this.#secrets ??= createRunSecrets(this.#options.secrets)
    return this.#secrets
  }

  /**
   * Removes the run's workspace, if one was created and is not kept; never rejects. Without one it
   * returns nothing (no promise for the run that made no workspace, which is nearly every run).
   */
  static dispose(ctx: RunContext): Promise<void> | undefined {
    if (ctx.#workspace === undefined || ctx.#options.keepWorkspace) return undefined
    return removeWorkspace(ctx.#workspace)
  }
}

async function removeWorkspace(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // Left for the OS's tmp cleaner; never fails the run.
    }
  })
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
