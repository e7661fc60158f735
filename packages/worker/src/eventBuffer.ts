import type { AppendEventsInput, EventLevel, UpdateProgressInput } from '@ops-control-room/core'

/** One buffered `ops.run_events` row. */
export interface BufferedEvent {
  runId: string
  /** The writer's lease: the database stores the event only while it is the run's current one. */
  lease: string
  level: EventLevel
  type: string
  message: string
  data?: unknown
  at: string
}

export interface EventBufferOptions {
  appendEvents(input: AppendEventsInput): Promise<unknown>
  updateProgress(input: UpdateProgressInput): Promise<unknown>
  workerId: string
  /** Linger before writing, so that many lines share one round trip. */
  lingerMs: number
  onError(error: Error): void
}

/**
 * Buffers handlers' log events and progress and writes them in batches: one `append_events` and one
 * `update_progress` round trip per flush, whatever the number of runs and lines. Writes are
 * sequential, so events keep their order. `flush()` resolves once everything pushed before it is
 * written (the worker flushes before it settles a run, so a run's log is complete when it ends).
 */
export interface EventBuffer {
  push(event: BufferedEvent): void
  progress(held: { id: string; lease: string }, value: number, message?: string): void
  flush(): Promise<void>
  /** Buffered, unwritten items. */
  size(): number
}

interface ProgressUpdate {
  id: string
  lease: string
  progress: number
  message?: string
}

const TYPE = /^[a-z0-9][a-z0-9_.:-]{0,99}$/
const MAX_MESSAGE = 16_384
const MAX_DATA_CHARS = 60_000
const BATCH = 5000

/** Creates the buffer of log events and progress for one worker. */
export function createEventBuffer(options: EventBufferOptions): EventBuffer {
  let events: BufferedEvent[] = []
  // By lease: a stale execution's progress never overwrites its successor's in the buffer.
  let progress = new Map<string, ProgressUpdate>()
  let chain: Promise<void> = Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined

  const schedule = () => {
    if (timer) return
    timer = setTimeout(() => {
      timer = undefined
      void flush()
    }, options.lingerMs)
  }

  async function write(batch: BufferedEvent[], updates: ProgressUpdate[]) {
    try {
      for (let i = 0; i < batch.length; i += BATCH) {
        await options.appendEvents({ events: batch.slice(i, i + BATCH) })
      }
      if (updates.length > 0) await options.updateProgress({ workerId: options.workerId, updates })
    } catch (err) {
      // Logs are best effort: a database failure must not fail the run that logged.
      options.onError(err instanceof Error ? err : new Error(String(err)))
    }
  }

  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer)
      timer = undefined
    }
    if (events.length === 0 && progress.size === 0) return chain
    const batch = events
    const updates = [...progress.values()]
    events = []
    progress = new Map()
    chain = chain.then(() => write(batch, updates))
    return chain
  }

  return {
    push(event) {
      events.push(sanitize(event))
      schedule()
    },
    progress(held, value, message) {
      const clamped = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0
      progress.set(held.lease, {
        id: held.id,
        lease: held.lease,
        progress: clamped,
        ...(message === undefined ? {} : { message: String(message).slice(0, 500) }),
      })
      schedule()
    },
    flush,
    size: () => events.length + progress.size,
  }
}

// One malformed line must not make the database reject the whole batch.
function sanitize(e: BufferedEvent): BufferedEvent {
  const out: BufferedEvent = {
    runId: e.runId,
    lease: e.lease,
    level: e.level,
    type: TYPE.test(e.type) ? e.type : 'log',
    message: String(e.message).slice(0, MAX_MESSAGE),
    at: e.at,
  }
  if (e.data !== undefined) {
    let text: string | undefined
    try {
      text = JSON.stringify(e.data)
    } catch {
      text = undefined
    }
    if (text === undefined) out.data = { unserialisable: String(e.data).slice(0, 1000) }
    else if (text.length > MAX_DATA_CHARS) out.data = { truncated: true, preview: text.slice(0, 1000) }
    else out.data = JSON.parse(text)
  }
  return out
}
