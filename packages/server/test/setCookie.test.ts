import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer({
    handlers: [
      {
        path: '/two-cookies',
        handler: async () => {
          const headers = new Headers({ 'content-type': 'text/plain' })
          headers.append('set-cookie', 'a=1; Path=/; HttpOnly')
          headers.append('set-cookie', 'b=2, with a comma; Path=/')
          return new Response('ok', { headers })
        },
      },
    ],
  })
})
afterAll(() => t.teardown())

describe('responses through node:http', () => {
  it('keeps each Set-Cookie a header of its own (never merged into one with commas)', async () => {
    const raw = await new Promise<string[]>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: t.server.port, path: '/two-cookies' }, (res) => {
        res.resume()
        // rawHeaders: name, value, name, value… exactly as sent on the wire.
        resolve(res.rawHeaders)
      })
      req.on('error', reject)
      req.end()
    })
    const cookies = raw.filter((_, i) => i % 2 === 1 && raw[i - 1]?.toLowerCase() === 'set-cookie')
    expect(cookies).toEqual(['a=1; Path=/; HttpOnly', 'b=2, with a comma; Path=/'])
  })
})
