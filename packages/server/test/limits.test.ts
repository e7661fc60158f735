import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, tokenFor } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer({
    bodyTimeoutMs: 300,
    changeStreams: { maxStreams: 3, maxStreamsPerToken: 2 },
  })
})
afterAll(() => t.teardown())

/** A raw HTTP/1.1 exchange on its own socket: what a browser or fetch would not let a test send. */
function raw(port: number, send: (socket: ReturnType<typeof connect>) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => send(socket))
    let text = ''
    socket.on('data', (d) => {
      text += String(d)
    })
    socket.on('end', () => resolve(text))
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
  })
}

async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('a client cannot stall the server', () => {
  it('a JSON body trickled too slowly is answered 408 and its connection closed', async () => {
    const answer = await raw(t.server.port, (socket) => {
      // Headers, then two bytes of a 100-byte body, then nothing.
      socket.write(
        `POST /sessions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.tokens.authenticated}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"`,
      )
    })
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    expect(answer).toMatch(/"code":"timeout"/)
  })

  it('headers that do not arrive in time end the connection with 408', async () => {
    const s = await startTestServer({ headersTimeoutMs: 500 })
    try {
      const answer = await raw(s.server.port, (socket) => socket.write('GET /health HTTP/1.1\r\nhost: x\r\n'))
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    } finally {
      await s.teardown()
    }
  })

  it('a path such as //evil.example/health stays a path of this host', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: t.server.port, path: '//evil.example/health' },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(404)
  })

  it('caps change streams per token and in total with 429 and Retry-After, and frees a slot when one ends', async () => {
    const open = (token: string) =>
      fetch(`${t.server.url}/changes`, { headers: { authorization: `Bearer ${token}` } })
    const anon1 = await open(t.tokens.anon)
    const anon2 = await open(t.tokens.anon)
    expect([anon1.status, anon2.status]).toEqual([200, 200])
    const anon3 = await open(t.tokens.anon)
    expect(anon3.status).toBe(429)
    expect(Number(anon3.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await anon3.json()).error.code).toBe('rate_limited')
    // Another token has its own share, up to the total (3).
    const user1 = await open(t.tokens.authenticated)
    expect(user1.status).toBe(200)
    const user2 = await open(t.tokens.authenticated)
    expect(user2.status).toBe(429)
    await user2.body?.cancel()
    // Ending a stream gives its slot back.
    await anon1.body?.cancel()
    const again = await waitFor(async () => {
      const r = await open(t.tokens.anon)
      if (r.status === 200) return r
      await r.body?.cancel()
      return undefined
    })
    for (const r of [anon2, user1, again]) await r.body?.cancel()
  })
})

describe('rate limits', () => {
  it('are on by default: a burst from one address gets 429 with Retry-After', async () => {
    const s = await startTestServer({ rateLimit: undefined })
    try {
      const statuses: number[] = []
      let retryAfter: string | null = null
      // Bursts of 400 at once (over the default burst of 200 per address, refilled at 100/s), until
      // one is refused; bounded, so a very slow machine fails the test instead of looping.
      for (let round = 0; round < 5 && !statuses.includes(429); round++) {
        await Promise.all(
          Array.from({ length: 400 }, async () => {
            const r = await fetch(`${s.server.url}/nope`)
            statuses.push(r.status)
            if (r.status === 429) retryAfter = r.headers.get('retry-after')
            await r.body?.cancel()
          }),
        )
      }
      expect(statuses.filter((x) => x === 429).length).toBeGreaterThan(0)
      expect(statuses.filter((x) => x === 404).length).toBeGreaterThanOrEqual(200)
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
    } finally {
      await s.teardown()
    }
  })

  it('count per token: one token’s burst does not limit another', async () => {
    const s = await startTestServer({
      rateLimit: { perAddress: false, perToken: { perSecond: 1, burst: 5 } },
    })
    try {
      const get = (token: string) =>
        fetch(`${s.server.url}/sessions`, { headers: { authorization: `Bearer ${token}` } }).then(
          async (r) => {
            await r.body?.cancel()
            return r.status
          },
        )
      const noisy = await tokenFor('anon', { sub: undefined, expiresIn: '2h' })
      const first = []
      for (let i = 0; i < 8; i++) first.push(await get(noisy))
      expect(first.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
      expect(first.slice(5)).toEqual([429, 429, 429])
      expect(await get(s.tokens.anon)).toBe(200)
    } finally {
      await s.teardown()
    }
  })
})
