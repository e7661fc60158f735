import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'

/** Turns a node:http request into a web Request whose signal aborts when the client goes away. */
export function toWebRequest(req: IncomingMessage, res: ServerResponse, origin: string): Request {
  const controller = new AbortController()
  res.on('close', () => controller.abort())
  const headers = new Headers()
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const v of value) headers.append(key, v)
    else headers.set(key, value)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(new URL(req.url ?? '/', origin), {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
    signal: controller.signal,
    // Node's fetch needs half-duplex for streaming request bodies.
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit)
}

/** Writes a web Response to node:http, streaming its body with backpressure. Pass `req` to close a connection whose request body was left unread. */
export async function writeWebResponse(
  res: ServerResponse,
  response: Response,
  req?: IncomingMessage,
): Promise<void> {
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, key) => {
    headers[key] = value
  })
  // Answered before the body was read (401, 413): the connection cannot be reused for another request.
  if (req && !req.complete) {
    headers.connection = 'close'
    req.resume()
  }
  res.writeHead(response.status, headers)
  if (!response.body) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  const onClose = () => {
    reader.cancel().catch(() => {})
  }
  res.on('close', onClose)
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            resolve()
          }
          res.on('drain', done)
          res.on('close', done)
        })
        if (res.destroyed) break
      }
    }
    res.end()
  } catch {
    res.destroy()
  } finally {
    res.off('close', onClose)
  }
}
