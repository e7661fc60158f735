import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { compressResponse, negotiateCoding } from './compressResponse'

describe('negotiateCoding', () => {
  it('takes the highest q-value, then the preferred coding, and honours q=0 and *', () => {
    expect(negotiateCoding(null)).toBeNull()
    expect(negotiateCoding('')).toBeNull()
    expect(negotiateCoding('identity')).toBeNull()
    expect(negotiateCoding('gzip, deflate, br')).toBe('br')
    expect(negotiateCoding('gzip, deflate')).toBe('gzip')
    expect(negotiateCoding('br;q=0.5, gzip;q=0.8')).toBe('gzip')
    expect(negotiateCoding('br;q=0, gzip;q=0')).toBeNull()
    expect(negotiateCoding('*')).toBe('br')
    expect(negotiateCoding('*;q=0.1, gzip;q=0, deflate;q=0.5')).toBe('deflate')
    expect(negotiateCoding('GZIP ; Q=1')).toBe('gzip')
    expect(negotiateCoding('gzip;q=2, deflate')).toBe('deflate')
    expect(negotiateCoding('gzip, br', ['gzip'])).toBe('gzip')
  })
})

describe('compressResponse', () => {
  const json = (body: string, headers: Record<string, string> = {}) =>
    new Response(body, { headers: { 'content-type': 'application/json; charset=utf-8', ...headers } })
  const get = (acceptEncoding?: string, method = 'GET') =>
    new Request('http://x/sessions', {
      method,
      headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {},
    })
  const big = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ id: i, name: `session ${i}` })))

  it('gzips a large JSON body streamed in many chunks, and marks it', async () => {
    const chunks = big.match(/.{1,100}/gs) ?? []
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift()
        if (next === undefined) c.close()
        else c.enqueue(new TextEncoder().encode(next))
      },
    })
    const res = await compressResponse(
      get('gzip'),
      new Response(body, { headers: { 'content-type': 'application/json', etag: '"v1"' } }),
    )
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(res.headers.get('vary')).toBe('Accept-Encoding')
    expect(res.headers.get('etag')).toBe('W/"v1"')
    const bytes = Buffer.from(await res.arrayBuffer())
    expect(bytes.length).toBeLessThan(big.length / 3)
    expect(gunzipSync(bytes).toString()).toBe(big)
  })

  it('leaves alone small bodies, event streams, downloads, HEAD and clients that accept nothing', async () => {
    const small = await compressResponse(get('gzip'), json('{"ok":true}'))
    expect(small.headers.get('content-encoding')).toBeNull()
    expect(small.headers.get('content-length')).toBe('11')
    expect(await small.text()).toBe('{"ok":true}')
    for (const [req, res] of [
      [get(), json(big)],
      [get('identity'), json(big)],
      [get('gzip', 'HEAD'), json(big)],
      [get('gzip'), new Response(big, { headers: { 'content-type': 'text/event-stream' } })],
      [get('gzip'), new Response(big, { headers: { 'content-type': 'image/png' } })],
      [get('gzip'), json(big, { 'content-disposition': 'attachment; filename="a.json"' })],
      [get('gzip'), json(big, { 'cache-control': 'no-store, no-transform' })],
    ] as const) {
      const out = await compressResponse(req, res)
      expect(out.headers.get('content-encoding')).toBeNull()
      if (req.method !== 'HEAD') expect(await out.text()).toBe(big)
    }
  })

  it('cancels the original body when the client goes away', async () => {
    let cancelled: unknown
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new TextEncoder().encode(big))
      },
      cancel(reason) {
        cancelled = reason ?? 'cancelled'
      },
    })
    const res = await compressResponse(
      get('br'),
      new Response(body, { headers: { 'content-type': 'text/plain' } }),
    )
    expect(res.headers.get('content-encoding')).toBe('br')
    const reader = res.body!.getReader()
    await reader.read()
    await reader.cancel('gone')
    await expect.poll(() => cancelled).toBeDefined()
  })
})
