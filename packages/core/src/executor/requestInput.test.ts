import { describe, expect, it } from 'vitest'
import { readJsonBody } from './requestInput'

/** A request whose body sends `first` and then fails (as a socket reset does). */
function brokenRequest(abort: boolean): Request {
  const controller = new AbortController()
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"a":'))
      setTimeout(() => {
        if (abort) controller.abort()
        c.error(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
      }, 10)
    },
  })
  return new Request('http://x/runs', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    signal: controller.signal,
    duplex: 'half',
  } as RequestInit)
}

describe('reading a JSON body', () => {
  it('a client that goes away mid-body is "cancelled", not a database or server error', async () => {
    await expect(readJsonBody(brokenRequest(true), 1024)).rejects.toMatchObject({ code: 'cancelled' })
  })

  it('a body that breaks while the client is still there is a validation error', async () => {
    await expect(readJsonBody(brokenRequest(false), 1024)).rejects.toMatchObject({ code: 'validation' })
  })

  it('a body that does not arrive in time is a timeout (408 at the edge)', async () => {
    const stalled = new Request('http://x/runs', {
      method: 'POST',
      body: new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array([123])) }),
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit)
    await expect(readJsonBody(stalled, 1024, 50)).rejects.toMatchObject({
      code: 'timeout',
      details: { reason: 'body_timeout' },
    })
  })
})
