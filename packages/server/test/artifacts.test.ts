import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ErrorBody, httpArtifactStore } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFilesystemArtifactStore } from '../src/index'
import { startTestServer, type TestServer } from './helpers'

let t: TestServer
let runId: string
beforeAll(async () => {
  t = await startTestServer({ maxUploadBytes: 200 * 1024 * 1024 })
  const user = t.client('service_role')
  const session = await user.sessions.create({ name: 'artifacts' })
  const [run] = await user.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'a' }] })
  runId = run!.id
})
afterAll(() => t.teardown())

async function uploadUrl(body: Record<string, unknown>) {
  const response = await t.request('/artifacts/upload-url', {
    method: 'POST',
    body: JSON.stringify({ runId, name: 'f.bin', ...body }),
  })
  expect(response.status).toBe(201)
  return (await response.json()) as { url: string; storagePath: string; headers: Record<string, string> }
}

const put = (url: string, body: BodyInit) => fetch(url, { method: 'PUT', body })
const sha = (s: string) => createHash('sha256').update(s).digest('hex')

function* repeat(chunk: Uint8Array, times: number) {
  for (let i = 0; i < times; i++) yield chunk
}

/** A web stream over `repeat` (ReadableStream.from is not in every lib typing yet). */
function streamOf(chunk: Uint8Array, times: number): ReadableStream<Uint8Array> {
  const it = repeat(chunk, times)
  return new ReadableStream({
    pull(controller) {
      const next = it.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
  })
}

describe('signed artifact URLs', () => {
  it('uploads, confirms with size and sha256, and downloads', async () => {
    const { url, storagePath } = await uploadUrl({ contentType: 'text/plain' })
    const uploaded = await put(url, 'hello artifact')
    expect(uploaded.status).toBe(201)
    expect(await uploaded.json()).toEqual({ storagePath, size: 14, sha256: sha('hello artifact') })
    const [a] = await t.client('service_role').worker.createArtifacts({
      artifacts: [
        { runId, name: 'f.bin', kind: 'file', storagePath, size: 14, sha256: sha('hello artifact') },
      ],
    })
    const link = await (
      await t.request(`/artifacts/download-url?id=${a!.id}`, { role: 'authenticated' })
    ).json()
    const download = await fetch(link.url)
    expect(download.headers.get('content-type')).toBe('text/plain')
    expect(await download.text()).toBe('hello artifact')
    // Write-once: the same URL cannot replace stored content.
    expect((await put(url, 'other')).status).toBe(409)
  })

  it('refuses a confirmation whose size or sha256 does not match, or with nothing uploaded, writing nothing', async () => {
    const { url, storagePath } = await uploadUrl({})
    await put(url, 'abc')
    const before = await t.fingerprint()
    for (const claim of [
      { storagePath, size: 3, sha256: sha('abd') },
      { storagePath, size: 4, sha256: sha('abc') },
      { storagePath: `${runId}/${crypto.randomUUID()}/f.bin`, size: 3, sha256: sha('abc') },
      { storagePath: `${crypto.randomUUID()}/x/f.bin`, size: 3, sha256: sha('abc') },
    ]) {
      const response = await t.request('/artifacts', {
        method: 'POST',
        body: JSON.stringify({ artifacts: [{ runId, name: 'f.bin', kind: 'file', ...claim }] }),
      })
      expect(response.status).toBe(400)
      expect(ErrorBody.parse(await response.json()).error.code).toBe('validation')
      expect(await t.fingerprint()).toBe(before)
    }
  })

  it('rejects tampered and expired URLs', async () => {
    const { url } = await uploadUrl({})
    const u = new URL(url)
    const tampered = [
      (() => {
        const x = new URL(u)
        x.searchParams.set('sig', `${u.searchParams.get('sig')!.slice(0, -2)}AA`)
        return x
      })(),
      (() => {
        const x = new URL(u)
        x.searchParams.set('exp', String(Number(u.searchParams.get('exp')) + 3600))
        return x
      })(),
      (() => {
        const x = new URL(u)
        x.searchParams.set('max', String(10 ** 12))
        return x
      })(),
      new URL(u.toString().replace('/f.bin?', '/g.bin?')),
      (() => {
        const x = new URL(u)
        x.searchParams.set('op', 'get')
        return x
      })(),
    ]
    for (const x of tampered) {
      const response = await fetch(x, {
        method: x.searchParams.get('op') === 'get' ? 'GET' : 'PUT',
        body: x.searchParams.get('op') === 'get' ? undefined : 'x',
      })
      expect(response.status).toBe(403)
    }
    // Expired: a URL signed in the past with the server's own key.
    const store = createFilesystemArtifactStore({
      root: t.artifactsDir,
      publicUrl: t.server.url,
      signingSecret: 'wrong-key',
    })
    const foreign = await store.createUploadUrl({
      storagePath: `${runId}/x/f.bin`,
      contentType: 'a/b',
      expiresInSeconds: 60,
    })
    expect((await put(foreign.url, 'x')).status).toBe(403)
    const serverStore = t.server.artifactStore as ReturnType<typeof createFilesystemArtifactStore>
    const expired = await serverStore.createUploadUrl({
      storagePath: `${runId}/${crypto.randomUUID()}/f.bin`,
      contentType: 'a/b',
      expiresInSeconds: -1,
    })
    const response = await put(expired.url, 'x')
    expect(response.status).toBe(403)
    expect((await response.json()).error.message).toMatch(/expired/)
  })

  it('cannot leave the store: traversal paths are refused before any signature check', async () => {
    for (const path of ['..%2F..%2Fetc%2Fpasswd', 'a/../../b', '%2E%2E/x', 'a/%00/b', 'a//b']) {
      const response = await fetch(`${t.server.url}/artifact-content/${path}?op=get&exp=9999999999&sig=x`)
      expect([400, 404]).toContain(response.status)
    }
    const serverStore = t.server.artifactStore as ReturnType<typeof createFilesystemArtifactStore>
    await expect(
      serverStore.createUploadUrl({ storagePath: '../x', contentType: 'a', expiresInSeconds: 5 }),
    ).rejects.toThrow()
    await expect(serverStore.stat('a/../../x')).rejects.toThrow()
    const names = ['..', 'a/b', 'a\\b']
    for (const name of names) {
      const response = await t.request('/artifacts/upload-url', {
        method: 'POST',
        body: JSON.stringify({ runId, name }),
      })
      expect(response.status).toBe(400)
    }
  })

  it('refuses uploads over the announced size with 413, and keeps nothing of them', async () => {
    const { url, storagePath } = await uploadUrl({ size: 1000 })
    const big = new Uint8Array(64 * 1024)
    const declared = await put(url, new Blob([big]))
    expect(declared.status).toBe(413)
    const stream = streamOf(big, 4)
    const chunked = await fetch(url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit)
    expect(chunked.status).toBe(413)
    expect(
      await (t.server.artifactStore as ReturnType<typeof createFilesystemArtifactStore>).stat(storagePath),
    ).toBeNull()
    expect(await readdir(join(t.artifactsDir, 'tmp'))).toEqual([])
  })

  it('streams a 100 MB upload and download with flat memory', async () => {
    const store = httpArtifactStore({ url: t.server.url, token: t.tokens.service_role })
    const SIZE = 100 * 1024 * 1024
    const chunk = new Uint8Array(256 * 1024).map((_, i) => i & 0xff)
    // Live memory (heap and buffers), collected now and then (--expose-gc): RSS and uncollected
    // garbage say more about the collector than about streaming.
    const used = () => {
      const m = process.memoryUsage()
      return m.heapUsed + m.arrayBuffers
    }
    global.gc?.()
    const baseline = used()
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, used() - baseline)
    }, 5)
    const collector = setInterval(() => global.gc?.(), 100)
    try {
      const stored = await store.put({
        runId,
        name: 'hundred.bin',
        contentType: 'application/octet-stream',
        body: streamOf(chunk, SIZE / chunk.byteLength),
      })
      expect(stored.size).toBe(SIZE)
      const expected = createHash('sha256')
      for (const c of repeat(chunk, SIZE / chunk.byteLength)) expected.update(c)
      expect(stored.sha256).toBe(expected.digest('hex'))
      const [artifact] = await t.client('service_role').worker.createArtifacts({
        artifacts: [{ runId, name: 'hundred.bin', kind: 'file', ...stored }],
      })
      let size = 0
      for await (const c of (await store.get(artifact!.storagePath!)) as unknown as AsyncIterable<Uint8Array>)
        size += c.byteLength
      expect(size).toBe(SIZE)
    } finally {
      clearInterval(sampler)
      clearInterval(collector)
    }
    // Buffering the content anywhere would cost ≥ 100 MB; streaming stays well under.
    expect(peak).toBeLessThan(80 * 1024 * 1024)
    // 200 MB through HTTP and the disk: a ceiling for a busy 2-core machine, not a speed target.
  }, 240_000)

  it('purges expired artifacts: records first, then their content', async () => {
    const store = httpArtifactStore({ url: t.server.url, token: t.tokens.service_role })
    const service = t.client('service_role')
    const old = await store.put({ runId, name: 'old.txt', contentType: 'text/plain', body: 'old' })
    const fresh = await store.put({ runId, name: 'fresh.txt', contentType: 'text/plain', body: 'fresh' })
    const [a, b] = await service.worker.createArtifacts({
      artifacts: [
        {
          runId,
          name: 'old.txt',
          kind: 'file',
          ...old,
          expiresAt: new Date(Date.now() - 1000).toISOString(),
        },
        { runId, name: 'fresh.txt', kind: 'file', ...fresh },
      ],
    })
    const fsStore = t.server.artifactStore as ReturnType<typeof createFilesystemArtifactStore>
    expect(await t.server.purgeExpiredArtifacts()).toBeGreaterThanOrEqual(1)
    expect(await service.artifacts.get(a!.id).catch((e) => e.code)).toBe('not_found')
    expect(await fsStore.stat(old.storagePath)).toBeNull()
    expect((await service.artifacts.get(b!.id)).id).toBe(b!.id)
    expect(await fsStore.stat(fresh.storagePath)).toEqual({ size: 5, sha256: sha('fresh') })
    // The API route does the same for schedulers; only service_role may call it.
    expect(
      (await t.request('/artifacts/purge', { method: 'POST', body: '{}', role: 'authenticated' })).status,
    ).toBe(403)
    const viaApi = await t.request('/artifacts/purge', { method: 'POST', body: '{}' })
    expect(await viaApi.json()).toEqual({ purged: 0, storagePaths: [] })
  })
})

describe('artifact names, content types and downloads are safe', () => {
  it('counts name limits in bytes at the edge: a 202-byte name of 101 characters is a 400, not a hung upload', async () => {
    const refuse = async (body: Record<string, unknown>) => {
      const response = await t.request('/artifacts/upload-url', {
        method: 'POST',
        body: JSON.stringify({ runId, ...body }),
      })
      return [response.status, (await response.json()).error?.code]
    }
    expect(await refuse({ name: 'é'.repeat(101) })).toEqual([400, 'validation'])
    expect(await refuse({ name: 'a\nb.txt' })).toEqual([400, 'validation'])
    // At the limit it works end to end: upload answers, and the content is served back.
    const name = 'é'.repeat(100)
    const { url } = await uploadUrl({ name })
    const uploaded = await put(url, 'x')
    expect(uploaded.status).toBe(201)
    const created = await t.request('/artifacts', {
      method: 'POST',
      body: JSON.stringify({ artifacts: [{ runId, name: 'é'.repeat(101), kind: 'text', text: 'x' }] }),
    })
    expect(created.status).toBe(400)
  })

  it('refuses a CR or LF in a content type', async () => {
    for (const contentType of ['text/plain\r\nx-evil: 1', 'text/html\n', 'text/\u0000plain']) {
      const response = await t.request('/artifacts/upload-url', {
        method: 'POST',
        body: JSON.stringify({ runId, name: 'f.bin', contentType }),
      })
      expect([contentType, response.status]).toEqual([contentType, 400])
    }
    const store = createFilesystemArtifactStore({
      root: t.artifactsDir,
      publicUrl: t.server.url,
      signingSecret: 'k',
    })
    await expect(
      store.put({ runId, name: 'x.txt', contentType: 'text/plain\r\nset-cookie: a=b', body: 'x' }),
    ).rejects.toMatchObject({ code: 'validation' })
  })

  it('serves downloads with nosniff and a sandboxing CSP, so HTML or SVG never runs as this origin', async () => {
    const html = '<script>parent.document.cookie</script>'
    const { url, storagePath } = await uploadUrl({ name: 'page.html', contentType: 'text/html' })
    expect((await put(url, html)).status).toBe(201)
    const [a] = await t.client('service_role').worker.createArtifacts({
      artifacts: [
        { runId, name: 'page.html', kind: 'file', storagePath, size: html.length, sha256: sha(html) },
      ],
    })
    const link = await (
      await t.request(`/artifacts/download-url?id=${a!.id}`, { role: 'authenticated' })
    ).json()
    const download = await fetch(link.url)
    expect(download.headers.get('x-content-type-options')).toBe('nosniff')
    expect(download.headers.get('content-security-policy')).toMatch(/^sandbox/)
    expect(download.headers.get('content-disposition')).toMatch(/^attachment/)
    await download.body?.cancel()
  })

  it('an upload through httpArtifactStore that stalls is aborted, not left waiting forever', async () => {
    const store = httpArtifactStore({ url: t.server.url, token: t.tokens.service_role, idleTimeoutMs: 200 })
    const stalled = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(10)) })
    await expect(
      store.put({ runId, name: 'stalled.bin', contentType: 'application/octet-stream', body: stalled }),
    ).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/stalled/) })
  })
})
