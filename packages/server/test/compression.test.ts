import { request as httpRequest, type IncomingMessage } from 'node:http'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer()
  // Enough sessions, made in one statement (one instant), for a list worth compressing.
  await t.sql`insert into ops.sessions (name, description) select 'compressed ' || g, repeat('a deploy of the api ', 5) from generate_series(1, 120) g`
})
afterAll(() => t.teardown())

/** A raw HTTP GET (fetch would decode the body and hide what was on the wire). */
function rawGet(
  path: string,
  headers: Record<string, string>,
  { firstChunkOnly = false } = {},
): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${t.server.url}${path}`,
      { headers: { authorization: `Bearer ${t.tokens.service_role}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => {
          chunks.push(c)
          if (firstChunkOnly) {
            req.destroy()
            resolve({ res, body: Buffer.concat(chunks) })
          }
        })
        res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('error', (err) => (firstChunkOnly ? undefined : reject(err)))
    req.end()
  })
}

describe('HTTP response compression', () => {
  it('compresses a JSON list for each coding a client accepts, and the bytes decode to the same JSON', async () => {
    const plain = await rawGet('/sessions?limit=120', {})
    expect(plain.res.headers['content-encoding']).toBeUndefined()
    expect(plain.res.headers.vary).toMatch(/accept-encoding/i)
    const expected = JSON.parse(plain.body.toString())
    expect(expected).toHaveLength(120)
    for (const [accept, coding, decode] of [
      ['gzip, deflate, br', 'br', brotliDecompressSync],
      ['gzip', 'gzip', gunzipSync],
      ['deflate', 'deflate', inflateSync],
      ['br;q=0.1, gzip;q=0.9', 'gzip', gunzipSync],
    ] as const) {
      const { res, body } = await rawGet('/sessions?limit=120', { 'accept-encoding': accept })
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-encoding']).toBe(coding)
      expect(res.headers['content-length']).toBeUndefined()
      expect(body.length).toBeLessThan(plain.body.length / 4)
      expect(JSON.parse(decode(body).toString())).toEqual(expected)
    }
    const refused = await rawGet('/sessions?limit=120', {
      'accept-encoding': 'gzip;q=0, br;q=0, deflate;q=0',
    })
    expect(refused.res.headers['content-encoding']).toBeUndefined()
    expect(JSON.parse(refused.body.toString())).toEqual(expected)
  })

  it('sends small bodies and errors as they are', async () => {
    const one = await rawGet('/sessions?limit=1', { 'accept-encoding': 'gzip' })
    expect(one.res.headers['content-encoding']).toBeUndefined()
    expect(JSON.parse(one.body.toString())).toHaveLength(1)
    const bad = await rawGet('/sessions?cursor=nope', { 'accept-encoding': 'gzip' })
    expect(bad.res.statusCode).toBe(400)
    expect(JSON.parse(bad.body.toString()).error.code).toBe('validation')
  })

  it('never compresses the change stream: its first event arrives as plain text', async () => {
    const { res, body } = await rawGet(
      '/changes',
      { 'accept-encoding': 'gzip, br', accept: 'text/event-stream' },
      { firstChunkOnly: true },
    )
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/)
    expect(res.headers['content-encoding']).toBeUndefined()
    expect(body.toString()).toMatch(/^(:|event:|id:|retry:|data:)/m)
  })

  it('a client over HTTP decodes compressed pages and pages sessions of one instant by cursor', async () => {
    const client = t.client('anon')
    const seen: string[] = []
    let cursor: string | undefined
    for (let i = 0; i < 50; i++) {
      const page = await client.sessions.list({
        search: 'compressed',
        limit: 7,
        ...(cursor ? { cursor } : {}),
      })
      seen.push(...page.map((s) => s.name))
      if (page.length < 7) break
      cursor = page.at(-1)?.cursor
    }
    expect(seen).toHaveLength(120)
    expect(new Set(seen).size).toBe(120)
  })
})
