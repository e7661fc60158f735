/** One Server-Sent Event. */
export interface SseEvent {
  id?: string
  event: string
  data: string
}

/** Parses a `text/event-stream` body (per the HTML spec's rules) into events. */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  let event = ''
  let id: string | undefined
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let nl = buffer.search(/\r\n|\r|\n/)
      while (nl >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? nl + 2 : nl + 1)
        if (line === '') {
          if (data.length > 0) yield { id, event: event || 'message', data: data.join('\n') }
          data = []
          event = ''
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          let v = colon < 0 ? '' : line.slice(colon + 1)
          if (v.startsWith(' ')) v = v.slice(1)
          if (field === 'data') data.push(v)
          else if (field === 'event') event = v
          else if (field === 'id' && !v.includes('\0')) id = v
        }
        nl = buffer.search(/\r\n|\r|\n/)
      }
    }
  } finally {
    reader.releaseLock()
  }
}
