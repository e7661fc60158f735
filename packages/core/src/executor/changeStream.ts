import type { Unsubscribe } from '../backend'
import { createRunDigest } from '../changeDigest'
import type * as C from '../contract'

/** Which changes one stream may see and wants. */
export interface ChangeFilter {
  sessionId?: string
  /** Fold run changes into one `runs` digest per session per this many ms (see createRunDigest). */
  digestMs?: number
  /** Whether the caller may read run events (`events` changes are left out otherwise). */
  events: boolean
}

interface Entry {
  seq: number
  change: C.Change
}

/**
 * Why a slow client's stream ended. Erroring the stream (rather than closing it) makes the server
 * destroy the socket at once, freeing what is queued for it; the code is Node's for a stream that
 * ended early, which @hono/node-server treats as a client going away (one info line, no stack
 * trace per dropped client for anyone to provoke).
 */
function droppedError(limit: number): Error {
  return Object.assign(new Error(`the client left over ${limit} bytes unread: dropped`), {
    code: 'ERR_STREAM_PREMATURE_CLOSE',
  })
}

/**
 * Fans one database subscription out to many Server-Sent-Events streams, and keeps the last
 * `bufferSize` changes so a client that reconnects with `Last-Event-ID` gets what it missed. Event ids
 * are `<epoch>-<seq>`; the epoch changes with every process, so an id from another process (or one
 * older than the buffer) answers `event: reset`: the client must re-read, since changes were lost.
 * The subscription starts with the first stream and lasts until `close()`, so the buffer also covers
 * the gaps while no client is connected.
 */
export function createChangeHub(options: {
  subscribe: (listener: (change: C.Change) => void) => Promise<Unsubscribe>
  bufferSize?: number
  heartbeatMs?: number
  /** Bytes one stream may hold unread before its client is dropped. Default 1 MiB. */
  clientBufferBytes?: number
}) {
  const bufferSize = options.bufferSize ?? 10_000
  const clientBufferBytes = options.clientBufferBytes ?? 1024 * 1024
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const epoch = crypto.randomUUID().slice(0, 8)
  const buffer: Entry[] = []
  const clients = new Set<(entry: Entry) => void>()
  let seq = 0
  let started: Promise<Unsubscribe> | undefined
  let closed = false

  function publish(change: C.Change) {
    const entry = { seq: ++seq, change }
    buffer.push(entry)
    // Trimmed in batches: one splice per change would cost O(bufferSize) for every change.
    if (buffer.length > bufferSize + Math.max(64, bufferSize >> 3))
      buffer.splice(0, buffer.length - bufferSize)
    for (const c of clients) c(entry)
  }

  function ensureStarted(): Promise<Unsubscribe> {
    if (!started) {
      started = options.subscribe(publish)
      started.catch(() => {
        started = undefined
      })
    }
    return started
  }

  const encoder = new TextEncoder()
  const visible = (change: C.Change, filter: ChangeFilter): boolean => {
    if (change.type === 'events') return filter.events && filter.sessionId === undefined
    if (filter.sessionId === undefined) return true
    return change.type === 'run' && change.sessionId === filter.sessionId
  }
  const frame = (e: Entry) => `id: ${epoch}-${e.seq}\nevent: change\ndata: ${JSON.stringify(e.change)}\n\n`

  return {
    /**
     * Opens one SSE stream. Resolves once the database subscription is live (rejects if it cannot
     * start), so nothing after the response is missed. A client that leaves more than
     * `clientBufferBytes` unread is dropped (the stream errors, which ends the connection); it
     * reconnects with Last-Event-ID and gets what it missed from the replay buffer, or `reset`.
     * `onEnd` is called once when the stream ends, however it ends.
     */
    async open(
      filter: ChangeFilter,
      lastEventId: string | null,
      signal?: AbortSignal,
      onEnd?: () => void,
    ): Promise<ReadableStream<Uint8Array>> {
      if (closed) throw new TypeError('the change hub is closed')
      await ensureStarted()
      let push: ((entry: Entry) => void) | undefined
      let timer: ReturnType<typeof setInterval> | undefined
      let ended = false
      let digest: ReturnType<typeof createRunDigest<number>> | undefined
      const stop = () => {
        if (push) clients.delete(push)
        if (timer) clearInterval(timer)
        digest?.stop()
        push = undefined
        if (!ended) {
          ended = true
          onEnd?.()
        }
      }
      return new ReadableStream<Uint8Array>(
        {
          start(controller) {
            const write = (text: string) => {
              if (ended) return
              try {
                controller.enqueue(encoder.encode(text))
              } catch {
                stop()
                return
              }
              // The client is not reading: drop it rather than buffer without limit. (The replay on
              // connect is exempt: it is bounded by the replay buffer, and nobody could read it yet.)
              if (!replaying && (controller.desiredSize ?? 0) < 0) {
                stop()
                controller.error(droppedError(clientBufferBytes))
              }
            }
            let replaying = true
            // A digest's event id is that of the last change folded into it, so a resume after it
            // misses nothing.
            const send = (e: Entry) => (digest ? digest.push(e.change, e.seq) : write(frame(e)))
            if (filter.digestMs !== undefined) {
              digest = createRunDigest<number>({
                windowMs: filter.digestMs,
                emit: (change, key) => write(frame({ seq: key ?? seq, change })),
              })
            }
            write(`retry: 2000\n: ops-control-room changes\n\n`)
            if (lastEventId !== null) {
              const m = /^([0-9a-f]{8})-(\d+)$/.exec(lastEventId.trim())
              const after = m && m[1] === epoch ? Number(m[2]) : undefined
              const oldest = buffer[0]?.seq ?? seq + 1
              if (after === undefined || after > seq || after < oldest - 1) {
                write(`id: ${epoch}-${seq}\nevent: reset\ndata: {}\n\n`)
              } else {
                for (const e of buffer) if (e.seq > after && visible(e.change, filter)) send(e)
                digest?.flush()
              }
            }
            replaying = false
            push = (e) => {
              if (visible(e.change, filter)) send(e)
            }
            clients.add(push)
            timer = setInterval(() => write(': ping\n\n'), heartbeatMs)
            signal?.addEventListener('abort', () => {
              stop()
              try {
                controller.close()
              } catch {
                // already closed
              }
            })
          },
          cancel() {
            stop()
          },
        },
        { highWaterMark: clientBufferBytes, size: (chunk) => chunk.byteLength },
      )
    },
    /** Open streams (for tests and metrics). */
    get size() {
      return clients.size
    },
    async close() {
      closed = true
      clients.clear()
      const s = started
      started = undefined
      if (s) await (await s.catch(() => async () => {}))()
    },
  }
}

export type ChangeHub = ReturnType<typeof createChangeHub>
