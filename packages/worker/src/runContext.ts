import type { ArtifactStore, EventLevel, OpsClient, Run } from '@ops-control-room/core'
import type { EventBuffer } from './eventBuffer'
import { HandlerError } from './handlerError'
import type { HandlerContext, RunArtifacts, RunLogger } from './types'

export interface RunContextOptions {
  run: Run
  params: unknown
  signal: AbortSignal
  workerId: string
  events: EventBuffer
  client: OpsClient
  artifactStore: ArtifactStore | undefined
}

/** Builds the `ctx` a handler receives: params, signal, a batched logger, progress and artifacts. */
export function createRunContext(options: RunContextOptions): HandlerContext {
  const { run, events, client } = options
  const emit = (level: EventLevel, type: string, message: string, data?: unknown) =>
    events.push({ runId: run.id, level, type, message, data, at: new Date().toISOString() })
  const log: RunLogger = {
    debug: (message, data) => emit('debug', 'log', message, data),
    info: (message, data) => emit('info', 'log', message, data),
    warn: (message, data) => emit('warn', 'log', message, data),
    error: (message, data) => emit('error', 'log', message, data),
    event: (type, message, o = {}) => emit(o.level ?? 'info', type, message, o.data),
  }

  const record = async (
    artifact: Parameters<OpsClient['worker']['createArtifacts']>[0]['artifacts'][number],
  ) => {
    // Events logged before the artifact keep their place in the run's history.
    await events.flush()
    const [created] = await client.worker.createArtifacts({ artifacts: [artifact] })
    if (!created) throw new Error('the database recorded no artifact')
    return created
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
      const contentType = input.contentType ?? 'application/octet-stream'
      const stored = await store.put({ runId: run.id, name: input.name, contentType, body: input.body })
      try {
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
  }

  return {
    params: options.params,
    run,
    signal: options.signal,
    log,
    progress: (value, message) => events.progress(run.id, value, message),
    artifacts,
    workerId: options.workerId,
  }
}
