import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers'

/**
 * Stalled SSE readers over real TCP while the database produces 60,000 run changes: the server's
 * memory stays bounded, each stalled stream is dropped (its slot freed, its socket closed) and told to
 * resync when it comes back, and a client that reads keeps receiving everything.
 */
const STALLED = 10
const CHANGES = 60_000
const CLIENT_BUFFER = 256 * 1024

let t: TestServer
const logged: string[] = []
beforeAll(async () => {
  t = await startTestServer({
    changeStreams: { maxStreams: STALLED + 2, clientBufferBytes: CLIENT_BUFFER },
    onError: (err, context) => void logged.push(`${context}: ${err}`),
  })
})
afterAll(() => t.teardown())

const heap = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Opens GET /changes on a raw socket; resolves once the response head has arrived. */
function openStalled(port: number, token: string, lastEventId?: string) {
  return new Promise<{ socket: Socket; received: () => string; closed: Promise<void> }>((resolve, reject) => {
    let text = ''
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /changes HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\naccept: text/event-stream\r\n${
          lastEventId ? `last-event-id: ${lastEventId}\r\n` : ''
        }\r\n`,
      )
    })
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    socket.on('error', () => {}) // a reset after being dropped is expected
    socket.on('data', (d) => {
      text += String(d)
      if (text.includes(': ops-control-room changes')) {
        resolve({ socket, received: () => text, closed })
      }
    })
    socket.once('close', () => reject(new Error(`closed before the stream began: ${text}`)))
  })
}

async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 180_000,
) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('a stalled change-stream reader cannot grow the server’s memory', () => {
  it('drops stalled streams, tells them to resync, and keeps serving a reader that reads', async () => {
    const port = t.server.port
    const session = await t.client('service_role').sessions.create({ name: 'slow clients' })
    const sentinel = await t.client('service_role').sessions.create({ name: 'sentinel' })

    // One reader that keeps up, counting run changes and watching for the sentinel's run.
    const healthy = await t.request('/changes', { role: 'anon' })
    expect(healthy.status).toBe(200)
    let seen = 0
    let sawSentinel = false
    const reading = (async () => {
      const reader = (healthy.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let tail = ''
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        tail += decoder.decode(value, { stream: true })
        const frames = tail.split('\n\n')
        tail = frames.pop() ?? ''
        for (const f of frames) {
          if (!f.includes('event: change')) continue
          if (f.includes(`"sessionId":"${session.id}"`)) seen++
          if (f.includes(`"sessionId":"${sentinel.id}"`)) {
            sawSentinel = true
            await reader.cancel()
            return
          }
        }
      }
    })()

    // Stalled readers: the socket is paused, so the kernel buffers fill and then the server's.
    const stalled = []
    for (let i = 0; i < STALLED; i++) {
      const s = await openStalled(port, t.tokens.anon)
      s.socket.pause()
      stalled.push(s)
    }
    // The last complete event id each one saw (none yet: only the preamble).
    const before = heap()

    // In statements of 500 runs: each is a burst of 500 changes (~90 KB) at once, within the budget
    // of a reader that keeps up. (One of 2,000 runs is ~360 KB, more than CLIENT_BUFFER before the
    // reader, on the same event loop, gets a turn: Node 22 delivers such a burst in one go.)
    for (let done = 0; done < CHANGES; done += 500) {
      const runs = Array.from({ length: 500 }, (_, i) => ({ kind: 'slow', params: { i: done + i } }))
      await t.sql`select ops.enqueue_runs(${session.id}, ${t.sql.json(runs as never)}::jsonb)`
    }
    await waitFor(() => seen >= CHANGES)

    // Every stalled stream was dropped: the total cap (STALLED + 2) has room for STALLED new streams.
    const extra = await waitFor(async () => {
      const opened = await Promise.all(
        Array.from({ length: STALLED }, () => t.request('/changes', { role: 'anon' })),
      )
      const ok = opened.every((r) => r.status === 200)
      await Promise.all(opened.map((r) => r.body?.cancel()))
      return ok && opened
    })
    expect(extra).toHaveLength(STALLED)

    // Memory: far below what buffering 60,000 changes for each stalled client would take (~11 MB each).
    const grown = heap() - before
    expect(grown).toBeLessThan(40 * 1024 * 1024)

    // A stalled client that reads again finds its stream cut short and the connection closed…
    for (const s of stalled) {
      s.socket.resume()
      await s.closed
      const text = s.received()
      const changes = text.split('event: change').length - 1
      expect(changes).toBeLessThan(CHANGES)
      // …and, resuming from the last event it got, is told to re-read (the gap outgrew the replay buffer).
      const ids = [...text.matchAll(/^id: (\S+)\nevent: change\ndata: .*\n\n/gm)].map((m) => m[1] as string)
      const again = await openStalled(port, t.tokens.anon, ids.at(-1) ?? 'none-yet')
      await waitFor(() => again.received().includes('event: reset') && true, 10_000)
      again.socket.destroy()
    }

    // The reader that kept up got all of it, and what came after.
    expect(seen).toBe(CHANGES)
    await t.sql`select ops.enqueue_runs(${sentinel.id}, ${t.sql.json([{ kind: 'slow' }] as never)}::jsonb)`
    await reading
    expect(sawSentinel).toBe(true)
    // Dropping a slow client is routine, not a server error.
    expect(logged).toEqual([])
    // 60,000 changes through a real server and 12 sockets: a ceiling for a busy 2-core machine, not a
    // speed target (it takes ~20 s idle).
  }, 300_000)
})
