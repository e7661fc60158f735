import type { z } from 'zod'
import { CancelledError, PayloadTooLargeError, TimeoutError, ValidationError } from '../errors'

/**
 * Reads a JSON body, counting bytes as they arrive: a body over `limit` is refused as soon as it
 * passes the limit (413), whatever Content-Length claims, so memory stays bounded; a body that has
 * not arrived whole within `timeoutMs` is refused too (408), so a client trickling bytes holds
 * nothing for long. A client that goes away mid-body is a `CancelledError` (nobody to answer, and
 * nothing to log), never a database or server error.
 */
export async function readJsonBody(request: Request, limit: number, timeoutMs = 30_000): Promise<unknown> {
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > limit) {
    throw new PayloadTooLargeError(`the body is ${declared} bytes; the limit is ${limit}`)
  }
  const type = request.headers.get('content-type') ?? ''
  if (type && !/^application\/(json|[\w.+-]+\+json)\b/i.test(type)) {
    throw new ValidationError(`send JSON (content-type: application/json), not ${type.slice(0, 100)}`)
  }
  if (!request.body) return {}
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TimeoutError(`the body did not arrive within ${timeoutMs} ms`, {
            details: { reason: 'body_timeout' },
          }),
        ),
      timeoutMs,
    )
  })
  deadline.catch(() => {})
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>
      try {
        chunk = await Promise.race([reader.read(), deadline])
      } catch (err) {
        await reader.cancel().catch(() => {})
        if (err instanceof TimeoutError) throw err
        if (request.signal.aborted) throw new CancelledError('the client went away while sending the body')
        throw new ValidationError('the body could not be read', { cause: err })
      }
      const { value, done } = chunk
      if (done) break
      size += value.byteLength
      if (size > limit) {
        await reader.cancel().catch(() => {})
        throw new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`)
      }
      chunks.push(value)
    }
  } finally {
    clearTimeout(timer)
  }
  if (size === 0) return {}
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    bytes.set(c, offset)
    offset += c.byteLength
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new ValidationError('the body is not valid UTF-8')
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ValidationError(`the body is not valid JSON: ${(err as Error).message}`)
  }
}

type Kind = 'number' | 'boolean' | 'array' | 'maybe-array' | 'string'

function kindOf(schema: z.ZodType | undefined): Kind {
  let s = schema as { _zod?: { def: { type: string; innerType?: unknown; options?: unknown[] } } } | undefined
  while (s?._zod && ['optional', 'default', 'nullable', 'prefault'].includes(s._zod.def.type)) {
    s = s._zod.def.innerType as typeof s
  }
  const type = s?._zod?.def.type
  if (type === 'number' || type === 'int' || type === 'bigint') return 'number'
  if (type === 'boolean') return 'boolean'
  if (type === 'array') return 'array'
  if (type === 'union') {
    const options = (s?._zod?.def.options ?? []) as z.ZodType[]
    if (options.some((o) => kindOf(o) === 'array')) return 'maybe-array'
  }
  return 'string'
}

/**
 * Turns a query string into the input object the route's schema expects: numbers and booleans are
 * converted only when they look like one (otherwise the schema reports them), repeated keys or
 * comma lists become arrays where the schema takes an array.
 */
export function queryToInput(
  params: URLSearchParams,
  schema: z.ZodType | undefined,
): Record<string, unknown> {
  const shape = ((schema as { _zod?: { def: { shape?: Record<string, z.ZodType> } } })?._zod?.def.shape ??
    {}) as Record<string, z.ZodType>
  const out: Record<string, unknown> = {}
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key)
    const kind = kindOf(shape[key])
    const one = values[values.length - 1] as string
    switch (kind) {
      case 'number':
        out[key] = /^-?\d+(\.\d+)?$/.test(one) ? Number(one) : one
        break
      case 'boolean':
        out[key] = one === 'true' ? true : one === 'false' ? false : one
        break
      case 'array':
        out[key] = values.flatMap((v) => v.split(',')).filter((v) => v !== '')
        break
      case 'maybe-array': {
        const all = values.flatMap((v) => v.split(',')).filter((v) => v !== '')
        out[key] = all.length === 1 ? all[0] : all
        break
      }
      default:
        out[key] = values.length > 1 ? values : one
    }
  }
  return out
}
