import { Duplex } from 'node:stream'
import { constants, createBrotliCompress, createDeflate, createGzip } from 'node:zlib'

/** A content coding this server can apply. */
export type ContentCoding = 'br' | 'gzip' | 'deflate'

/** How JSON and text responses are compressed (`createServer({ compression })`). */
export interface CompressionOptions {
  /** Bodies smaller than this many bytes are sent as they are. Default 1024. */
  threshold?: number
  /** Codings offered, most preferred first (a client's q-values decide first). Default br, gzip, deflate. */
  codings?: readonly ContentCoding[]
}

const DEFAULT_CODINGS: readonly ContentCoding[] = ['br', 'gzip', 'deflate']

/**
 * JSON, YAML and text — never `text/event-stream`: a compressor holds bytes back until it has a
 * block, and a change stream must reach the browser the moment it is written.
 */
const COMPRESSIBLE =
  /^(?:application\/(?:json|[a-z0-9.+-]+\+json|yaml|x-ndjson)|text\/(?!event-stream)[a-z0-9.+-]+)\s*(?:;|$)/i

/**
 * The coding to use for a request's `Accept-Encoding`, or null for none: the highest q-value wins,
 * ties go to the earlier of `offered`; `q=0` refuses a coding, and `*` stands for any not named.
 */
export function negotiateCoding(
  acceptEncoding: string | null,
  offered: readonly ContentCoding[] = DEFAULT_CODINGS,
): ContentCoding | null {
  if (!acceptEncoding) return null
  const q = new Map<string, number>()
  // A header is bounded by the server's header limits; 64 entries is more than any client sends.
  for (const part of acceptEncoding.split(',').slice(0, 64)) {
    const [raw = '', ...params] = part.toLowerCase().split(';')
    const name = raw.trim()
    if (!name) continue
    let weight = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)
      if (m) weight = Number(m[1])
    }
    if (!Number.isFinite(weight) || weight < 0 || weight > 1) continue
    q.set(name, weight)
  }
  let best: ContentCoding | null = null
  let bestQ = 0
  for (const coding of offered) {
    const weight = q.get(coding) ?? q.get('*') ?? 0
    if (weight > bestQ) {
      best = coding
      bestQ = weight
    }
  }
  return best
}

function compressor(coding: ContentCoding) {
  // Brotli at quality 4 costs about what gzip's default does and compresses JSON better; its
  // default (11) is for static assets compressed once, far too slow per response.
  if (coding === 'br')
    return createBrotliCompress({
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 4,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    })
  return coding === 'gzip' ? createGzip() : createDeflate()
}

function addVary(headers: Headers): void {
  const vary = headers.get('vary')
  if (!vary) headers.set('vary', 'Accept-Encoding')
  else if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(vary))
    headers.set('vary', `${vary}, Accept-Encoding`)
}

/**
 * Compresses a JSON or text response when the client accepts a coding and the body reaches the
 * threshold. Streams: at most `threshold` bytes are held to decide, then the body flows through
 * the compressor with backpressure, so memory stays bounded whatever the size; a client that goes
 * away cancels the original body. Leaves alone HEAD, 204/206/304, downloads (`Content-Disposition`),
 * ranges, bodies already encoded, `Cache-Control: no-transform`, and server-sent events.
 */
export async function compressResponse(
  request: Request,
  response: Response,
  options: CompressionOptions = {},
): Promise<Response> {
  const type = response.headers.get('content-type')
  if (
    !response.body ||
    request.method === 'HEAD' ||
    response.status === 204 ||
    response.status === 206 ||
    response.status === 304 ||
    !type ||
    !COMPRESSIBLE.test(type) ||
    response.headers.has('content-encoding') ||
    response.headers.has('content-range') ||
    response.headers.has('content-disposition') ||
    /(^|,)\s*no-transform\s*(,|$)/i.test(response.headers.get('cache-control') ?? '')
  ) {
    return response
  }
  const headers = new Headers(response.headers)
  addVary(headers)
  const init = { status: response.status, statusText: response.statusText, headers }
  const threshold = Math.max(0, options.threshold ?? 1024)
  const coding = negotiateCoding(request.headers.get('accept-encoding'), options.codings)
  const length = Number(response.headers.get('content-length') ?? Number.NaN)
  if (coding === null || length < threshold) return new Response(response.body, init)

  // Hold at most `threshold` bytes (plus one chunk) to learn whether the body is worth compressing.
  const reader = response.body.getReader()
  const held: Uint8Array[] = []
  let size = 0
  let done = false
  while (size < threshold) {
    const next = await reader.read()
    if (next.done) {
      done = true
      break
    }
    held.push(next.value)
    size += next.value.byteLength
  }
  if (done && size < threshold) {
    const body = new Uint8Array(size)
    let at = 0
    for (const chunk of held) {
      body.set(chunk, at)
      at += chunk.byteLength
    }
    headers.set('content-length', String(size))
    return new Response(body, init)
  }

  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = held.shift()
      if (chunk) return controller.enqueue(chunk)
      if (done) return controller.close()
      const next = await reader.read()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
  const z = Duplex.toWeb(compressor(coding)) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>
  headers.set('content-encoding', coding)
  headers.delete('content-length')
  // The bytes on the wire change: a strong validator would claim byte-equality with the identity body.
  const etag = headers.get('etag')
  if (etag && !etag.startsWith('W/')) headers.set('etag', `W/${etag}`)
  return new Response(source.pipeThrough(z), init)
}
