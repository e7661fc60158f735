import { describe, expect, it } from 'vitest'
import type { Change } from '../contract'
import { createChangeHub } from './changeStream'

/** A text decoder stream, typed for a byte stream's pipeThrough. */
const decoder = () => new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>

/** A hub fed by hand: `emit` is what the database subscription would call. */
function hubWithSource(options: { clientBufferBytes?: number; bufferSize?: number } = {}) {
  let emit: (c: Change) => void = () => {}
  const hub = createChangeHub({
    subscribe: async (listener) => {
      emit = listener
      return async () => {}
    },
    heartbeatMs: 60_000,
    ...options,
  })
  const change = (i: number): Change => ({
    type: 'run',
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    sessionId: '00000000-0000-4000-8000-000000000000',
    status: 'queued',
    lane: 'A',
  })
  return { hub, emit: (i: number) => emit(change(i)) }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ text: string; error?: unknown }> {
  const reader = stream.pipeThrough(decoder()).getReader()
  let text = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return { text }
      text += value
    }
  } catch (error) {
    return { text, error }
  }
}

describe('the change hub bounds what a slow client can hold', () => {
  it('drops a client that stops reading once its unread bytes pass the limit, and ends its stream', async () => {
    const { hub, emit } = hubWithSource({ clientBufferBytes: 16 * 1024 })
    let ended = 0
    const stream = await hub.open({ events: true }, null, undefined, () => ended++)
    expect(hub.size).toBe(1)
    // Nobody reads: 60,000 changes (~10 MB of frames) would pile up in memory without the limit.
    for (let i = 0; i < 60_000; i++) emit(i)
    expect(hub.size).toBe(0)
    expect(ended).toBe(1)
    const { text, error } = await readAll(stream)
    expect(error).toBeInstanceOf(Error)
    // What it holds is bounded by the limit (plus the frame that crossed it).
    expect(text.length).toBeLessThan(16 * 1024 + 1024)
    await hub.close()
  })

  it('a dropped client resumes with Last-Event-ID and gets what it missed from the replay buffer', async () => {
    const { hub, emit } = hubWithSource({ clientBufferBytes: 4 * 1024 })
    const slow = (await hub.open({ events: true }, null)).pipeThrough(decoder()).getReader()
    // It reads the first ten changes, then stops reading while 200 more happen.
    for (let i = 0; i < 10; i++) emit(i)
    let seen = ''
    while ((seen.match(/event: change/g) ?? []).length < 10) seen += (await slow.read()).value
    const last = [...seen.matchAll(/^id: (\S+)$/gm)].map((m) => m[1] as string).at(-1) as string
    for (let i = 10; i < 210; i++) emit(i)
    expect(hub.size).toBe(0)
    await expect(slow.read()).rejects.toThrow(/dropped/)
    const resumed = (await hub.open({ events: true }, last)).pipeThrough(decoder()).getReader()
    let replay = ''
    while (!replay.includes('000000000209')) replay += (await resumed.read()).value
    const ids = [...replay.matchAll(/"id":"[0-9a-f-]+?(\d{4})"/g)].map((m) => Number(m[1]))
    // Exactly the changes after the last one it saw, none twice, none missing.
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 10))
    expect(replay).not.toContain('event: reset')
    await resumed.cancel()
    await hub.close()
  })

  it('a client that keeps reading is never dropped', async () => {
    const { hub, emit } = hubWithSource({ clientBufferBytes: 4 * 1024 })
    const stream = await hub.open({ events: true }, null)
    const reader = stream.pipeThrough(decoder()).getReader()
    let seen = 0
    for (let i = 0; i < 2000; i++) {
      emit(i)
      seen += ((await reader.read()).value ?? '').split('event: change').length - 1
    }
    expect(hub.size).toBe(1)
    expect(seen).toBeGreaterThan(1900)
    await reader.cancel()
    await hub.close()
  })
})

const S = '00000000-0000-4000-8000-000000000001'
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`

/** Reads SSE frames from a stream until `count` change events arrived. */
async function readChanges(stream: ReadableStream<Uint8Array>, count: number) {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const frames: { id: string; change: Change }[] = []
  while (frames.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value)
    let end = text.indexOf('\n\n')
    while (end >= 0) {
      const frame = text.slice(0, end)
      text = text.slice(end + 2)
      const idLine = /^id: (.+)$/m.exec(frame)?.[1]
      const data = /^data: (.+)$/m.exec(frame)?.[1]
      if (/^event: change$/m.test(frame) && idLine && data)
        frames.push({ id: idLine, change: JSON.parse(data) })
      end = text.indexOf('\n\n')
    }
  }
  await reader.cancel()
  return frames
}

describe('the change hub with digestMs', () => {
  it('folds run and event changes into digests, with resumable ids, and leaves other changes alone', async () => {
    let publish: (c: Change) => void = () => {}
    const hub = createChangeHub({
      subscribe: async (listener) => {
        publish = listener
        return async () => {}
      },
    })
    try {
      const digest = await hub.open({ events: true, digestMs: 200 }, null)
      const plain = await hub.open({ events: true }, null)
      for (let i = 1; i <= 100; i++)
        publish({ type: 'run', id: id(i), sessionId: S, status: 'succeeded', lane: 'A' })
      publish({ type: 'events', runIds: [id(1), id(2)] })
      publish({ type: 'cancel', runId: id(3), workerId: 'w' })
      const folded = await readChanges(digest, 3)
      expect(folded.map((f) => f.change)).toEqual([
        { type: 'runs', sessionId: S, lanes: ['A'], statuses: ['succeeded'], count: 100, ids: null },
        { type: 'events', runIds: [id(1), id(2)] },
        { type: 'cancel', runId: id(3), workerId: 'w' },
      ])
      // The digest carries the id of the last change folded into it: a resume from there misses nothing.
      expect(folded.map((f) => f.id.replace(/^.*-/, ''))).toEqual(['100', '101', '102'])
      const all = await readChanges(plain, 102)
      expect(all).toHaveLength(102)
    } finally {
      await hub.close()
    }
  })
})
