import { createParser, type EventSourceMessage } from 'eventsource-parser'

/** One Server-Sent Event. */
export interface SseEvent {
  /** The last event ID seen on the stream so far (it carries over to later events, as in EventSource). */
  id?: string
  event: string
  data: string
}

/** A line or an event longer than this ends the stream with an error: a server cannot grow our memory. */
const MAX_BUFFER_CHARS = 4 * 1024 * 1024

/**
 * Parses a `text/event-stream` body into events. The parsing is eventsource-parser's (line endings
 * split across chunks, BOM, comments, `retry`), so this only adapts it to an async iterator and keeps
 * the last event ID as EventSource does.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let queue: EventSourceMessage[] = []
  let failure: Error | undefined
  let lastId: string | undefined
  const parser = createParser({
    onEvent: (message) => queue.push(message),
    // Unknown fields and bad `retry` values are ignored, as EventSource does; only an overflow ends.
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') failure = error
    },
    maxBufferSize: MAX_BUFFER_CHARS,
  })
  try {
    for (;;) {
      const { value, done } = await reader.read()
      parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }))
      const ready = queue
      queue = []
      for (const message of ready) {
        if (message.id !== undefined) lastId = message.id
        yield { id: lastId, event: message.event || 'message', data: message.data }
      }
      if (failure) throw failure
      if (done) return
    }
  } finally {
    reader.releaseLock()
  }
}
