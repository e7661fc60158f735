import { describe, expect, it } from 'vitest'
import type { Change } from '../contract'
import { createChangeHub } from './changeStream'

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
