import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { errorFromResponse } from '../src/http/httpBackend'
import {
  ConflictError,
  createOpsClient,
  ForbiddenError,
  httpBackend,
  InternalError,
  PayloadTooLargeError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '../src/index'

describe('errorFromResponse', () => {
  it('keeps the executor’s own typed error', async () => {
    const error = await errorFromResponse(
      Response.json({ error: { code: 'lease_lost', message: 'the run moved on' } }, { status: 409 }),
    )
    expect(error.code).toBe('lease_lost')
    expect(error.message).toBe('the run moved on')
  })

  it('types a gateway’s bare answer by its status, with the start of its text', async () => {
    const cases: [number, string, new (...args: never[]) => Error][] = [
      [400, 'bad request', ValidationError],
      [401, '{"msg":"Invalid JWT"}', UnauthorizedError],
      [403, '<html>Forbidden</html>', ForbiddenError],
      [404, 'no route', InternalError],
      [409, '', ConflictError],
      [413, 'Request Entity Too Large', PayloadTooLargeError],
      [429, 'slow down', RateLimitedError],
      [502, 'Bad Gateway', UnavailableError],
      [504, 'Gateway Timeout', TimeoutError],
    ]
    for (const [status, body, type] of cases) {
      const error = await errorFromResponse(new Response(body, { status, statusText: 'X' }))
      expect(error, `${status}`).toBeInstanceOf(type)
      expect(error.message).toContain(`answered ${status}`)
    }
    const jwt = await errorFromResponse(new Response('{"msg":"Invalid JWT"}', { status: 401 }))
    expect(jwt.message).toMatch(/: Invalid JWT$/)
  })

  it('reads at most 256 KiB of an endless error body', async () => {
    let sent = 0
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 65_536
        controller.enqueue(new Uint8Array(65_536).fill(120))
      },
    })
    const error = await errorFromResponse(new Response(endless, { status: 500 }))
    expect(error).toBeInstanceOf(UnavailableError)
    expect(error.message.length).toBeLessThan(400)
    expect(sent).toBeLessThanOrEqual(6 * 65_536)
  })

  it('reaches the client’s callers typed, from a real HTTP server that answers 401 without a body it knows', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end('{"message":"Invalid JWT"}')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const client = createOpsClient({ backend: httpBackend({ url, token: 'x' }) })
      const error = await client.sessions.list().catch((e: unknown) => e)
      await client.close()
      expect(error).toBeInstanceOf(UnauthorizedError)
    } finally {
      server.close()
    }
  })
})
