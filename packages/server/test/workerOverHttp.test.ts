import { createHash } from 'node:crypto'
import {
  type Change,
  createOpsClient,
  httpArtifactStore,
  httpBackend,
  type Run,
} from '@ops-control-room/core'
import { createWorker, defineHandler, type Worker } from '@ops-control-room/worker'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { allowKinds, startTestServer, type TestServer } from './helpers'

let t: TestServer
let worker: Worker | undefined
beforeAll(async () => {
  t = await startTestServer()
  await allowKinds(t.sql, ['echo', 'blob', 'wait', 'x', 'y', 'z'])
})
afterAll(async () => {
  await worker?.stop({ timeoutMs: 0 })
  await t.teardown()
})

async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** 10 MB of deterministic bytes, generated chunk by chunk (never held whole). */
function generated(size: number, seed = 7): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close()
      const n = Math.min(64 * 1024, size - sent)
      const chunk = new Uint8Array(n)
      for (let i = 0; i < n; i++) chunk[i] = ((sent + i) * seed) & 0xff
      sent += n
      controller.enqueue(chunk)
    },
  })
}

describe('the worker end to end over HTTP', () => {
  it('claims, heartbeats, completes, cancels and stores a 10 MB artifact, with no database connection', async () => {
    const user = t.client('authenticated')
    const serviceBackend = httpBackend({ url: t.server.url, token: t.tokens.service_role })
    const client = createOpsClient({ backend: serviceBackend })
    const SIZE = 10 * 1024 * 1024
    let waitingStarted = false
    worker = createWorker({
      client,
      artifactStore: httpArtifactStore({ url: t.server.url, token: t.tokens.service_role }),
      workerId: 'http-worker',
      concurrency: 4,
      heartbeatIntervalMs: 300,
      // Far longer than waitFor's 30 s: runs get picked up only if the SSE stream wakes the worker.
      pollIntervalMs: 120_000,
      sweepIntervalMs: false,
      handlers: [
        defineHandler({
          kind: 'echo',
          input: z.object({ n: z.number() }),
          run: async ({ params, log, progress }) => {
            log.info(`echo ${params.n}`)
            progress(1, 'done')
            return { n: params.n * 2 }
          },
        }),
        defineHandler({
          kind: 'blob',
          input: z.object({}),
          run: async ({ artifacts }) => {
            const stored = await artifacts.put({
              name: 'big.bin',
              body: generated(SIZE),
              contentType: 'application/octet-stream',
            })
            return { artifactId: stored.id, sha256: stored.sha256 }
          },
        }),
        defineHandler({
          kind: 'wait',
          input: z.object({}),
          run: ({ signal }) =>
            new Promise((_resolve, reject) => {
              waitingStarted = true
              signal.addEventListener('abort', () => reject(signal.reason))
            }),
        }),
      ],
    })
    await worker.start()

    const session = await user.sessions.create({ name: 'over http' })
    // The wake-up comes through the SSE stream: the claim loop's poll interval (120 s) is not waited out.
    const runs = await user.runs.enqueue({
      sessionId: session.id,
      runs: [
        ...Array.from({ length: 20 }, (_, n) => ({ kind: 'echo', lane: 'A' as const, params: { n } })),
        { kind: 'blob', lane: 'B' },
        { kind: 'wait', lane: 'C' },
      ],
    })
    const echoIds = runs.slice(0, 20).map((r) => r.id)
    const done = await waitFor(async () => {
      const list = await user.runs.list({ sessionId: session.id, status: 'succeeded' })
      return list.length >= 21 ? list : undefined
    })
    const byId = new Map(done.map((r: Run) => [r.id, r]))
    expect(echoIds.map((id) => byId.get(id)?.result)).toEqual(echoIds.map((_, n) => ({ n: n * 2 })))

    // The 10 MB artifact: recorded with the size and sha256 the server computed, downloadable intact.
    const blobRun = byId.get(runs[20]!.id)!
    const [artifact] = await user.artifacts.list({ runId: blobRun.id })
    const expected = createHash('sha256')
    for await (const chunk of generated(SIZE) as unknown as AsyncIterable<Uint8Array>) expected.update(chunk)
    expect(artifact).toMatchObject({ kind: 'file', size: SIZE, sha256: expected.digest('hex') })
    const link = await t.request(`/artifacts/download-url?id=${artifact!.id}`, { role: 'authenticated' })
    const { url } = await link.json()
    const download = await fetch(url)
    const got = createHash('sha256')
    let size = 0
    for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) {
      got.update(chunk)
      size += chunk.byteLength
    }
    expect({ size, sha256: got.digest('hex') }).toEqual({ size: SIZE, sha256: artifact!.sha256 })

    // Cancel: requested by the user, delivered to the handler's signal, acknowledged by the worker.
    await waitFor(async () => waitingStarted)
    await user.runs.cancel(runs[21]!.id, 'enough')
    const cancelled = await waitFor(async () => {
      const r = await user.runs.get(runs[21]!.id)
      return r.status === 'cancelled' ? r : undefined
    })
    expect(cancelled.cancelReason).toBe('enough')
    const events = await user.events.list({ runId: echoIds[0]! })
    expect(events.map((e) => e.message)).toContain('echo 0')
    await worker.stop()
    worker = undefined
    const [w] = await user.workers.list()
    expect(w).toMatchObject({ id: 'http-worker' })
  })
})

describe('the live change stream', () => {
  it('delivers changes over SSE, filtered by session, and resumes after Last-Event-ID', async () => {
    const user = t.client('authenticated')
    const a = await user.sessions.create({ name: 'a' })
    const b = await user.sessions.create({ name: 'b' })
    const seen: Change[] = []
    const stopWatching = await user.runs.watch({ sessionId: a.id }, (c) => seen.push(c))
    const [ra] = await user.runs.enqueue({ sessionId: a.id, runs: [{ kind: 'x' }] })
    await user.runs.enqueue({ sessionId: b.id, runs: [{ kind: 'x' }] })
    await waitFor(async () => seen.length > 0)
    await new Promise((r) => setTimeout(r, 200))
    expect(seen).toEqual([{ type: 'run', id: ra!.id, sessionId: a.id, status: 'queued', lane: 'A' }])
    await stopWatching()

    // Raw SSE: read one event, disconnect, miss two, reconnect with Last-Event-ID.
    const open = (lastEventId?: string) =>
      t.request(`/changes?sessionId=${a.id}`, {
        role: 'anon',
        headers: lastEventId ? { 'last-event-id': lastEventId } : {},
      })
    const first = await open()
    expect(first.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = first.body!.pipeThrough(new TextDecoderStream()).getReader()
    await user.runs.enqueue({ sessionId: a.id, runs: [{ kind: 'x' }] })
    let text = ''
    while (!/\nevent: change\n/.test(text)) text += (await reader.read()).value
    const lastId = /id: (\S+)\nevent: change/.exec(text)![1]!
    await reader.cancel()
    const missed = await user.runs.enqueue({ sessionId: a.id, runs: [{ kind: 'y' }, { kind: 'z' }] })
    await new Promise((r) => setTimeout(r, 200))
    const resumed = await open(lastId)
    const r2 = resumed.body!.pipeThrough(new TextDecoderStream()).getReader()
    let replay = ''
    while (!missed.every((m) => replay.includes(m.id))) replay += (await r2.read()).value
    await r2.cancel()
    expect(replay).not.toMatch(/event: reset/)

    // An id from another process (or too old) answers reset.
    const stale = await open('deadbeef-1')
    const r3 = stale.body!.pipeThrough(new TextDecoderStream()).getReader()
    let resetText = ''
    while (!resetText.includes('event: reset')) resetText += (await r3.read()).value
    await r3.cancel()
  })

  it('sends heartbeats, and authorises the stream like any request', async () => {
    const t2 = await startTestServer({ heartbeatMs: 50 })
    try {
      const response = await t2.request('/changes', { role: 'service_role' })
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
      let text = ''
      while ((text.match(/: ping/g) ?? []).length < 2) text += (await reader.read()).value
      await reader.cancel()
      expect((await t2.request('/changes', { role: null })).status).toBe(401)
      const missing = await t2.request(`/changes?sessionId=${crypto.randomUUID()}`, { role: 'anon' })
      expect(missing.status).toBe(404)
      const bad = await t2.request('/changes?sessionId=nope', { role: 'anon' })
      expect(bad.status).toBe(400)
    } finally {
      await t2.teardown()
    }
  })
})

describe('polling, where there is no change stream', () => {
  it('httpBackend falls back to polling when /changes is missing, and still sees run changes', async () => {
    const t3 = await startTestServer({ liveChanges: false })
    try {
      await allowKinds(t3.sql, ['p'])
      const backend = httpBackend({ url: t3.server.url, token: t3.tokens.authenticated, pollIntervalMs: 100 })
      const user = createOpsClient({ backend })
      const session = await user.sessions.create({ name: 'poll' })
      const seen: Change[] = []
      const stop = await user.runs.watch({ sessionId: session.id }, (c) => seen.push(c))
      const [run] = await user.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'p' }] })
      await user.runs.cancel(run!.id)
      await waitFor(async () =>
        seen.some((c) => c.type === 'run' && c.id === run!.id && c.status === 'cancelled'),
      )
      await stop()
      await user.close()
    } finally {
      await t3.teardown()
    }
  })
})
