import { describe, expect, it, vi } from 'vitest'
import { createRunDigest } from './changeDigest'
import type { Change } from './contract'

const S1 = '00000000-0000-4000-8000-000000000001'
const S2 = '00000000-0000-4000-8000-000000000002'
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`

describe('createRunDigest', () => {
  it('folds run changes per session per window and keeps order with other changes', () => {
    vi.useFakeTimers()
    try {
      const out: [Change, number | undefined][] = []
      const d = createRunDigest<number>({ windowMs: 100, emit: (c, k) => out.push([c, k]), maxIds: 3 })
      d.push({ type: 'run', id: id(1), sessionId: S1, status: 'running', lane: 'B' }, 1)
      d.push({ type: 'run', id: id(2), sessionId: S1, status: 'succeeded', lane: 'A' }, 2)
      d.push({ type: 'run', id: id(3), sessionId: S2, status: 'queued', lane: 'A' }, 3)
      expect(out).toEqual([])
      d.push({ type: 'queued', lane: 'A' }, 4)
      expect(out.map(([c, k]) => [c.type, k])).toEqual([
        ['runs', 3],
        ['runs', 3],
        ['queued', 4],
      ])
      expect(out[0]?.[0]).toEqual({
        type: 'runs',
        sessionId: S1,
        lanes: ['A', 'B'],
        statuses: ['running', 'succeeded'],
        count: 2,
        ids: [id(1), id(2)],
      })
      out.length = 0
      for (let i = 10; i < 20; i++)
        d.push({ type: 'run', id: id(i), sessionId: S1, status: 'queued', lane: 'C' }, i)
      vi.advanceTimersByTime(100)
      expect(out).toHaveLength(1)
      expect(out[0]?.[0]).toMatchObject({ type: 'runs', count: 10, ids: null })
      // After a quiet spell, the first change goes out after the lead only.
      out.length = 0
      vi.advanceTimersByTime(1000)
      d.push({ type: 'run', id: id(30), sessionId: S1, status: 'failed', lane: 'D' }, 30)
      vi.advanceTimersByTime(10)
      expect(out.map(([c]) => c.type)).toEqual(['runs'])
      // Events of many runs fold too: listed while few, `truncated` when many.
      out.length = 0
      vi.advanceTimersByTime(1000)
      d.push({ type: 'events', runIds: [id(1), id(2)] }, 31)
      d.push({ type: 'events', runIds: [id(2), id(3)] }, 32)
      vi.advanceTimersByTime(10)
      expect(out).toEqual([[{ type: 'events', runIds: [id(1), id(2), id(3)] }, 32]])
      out.length = 0
      d.push({ type: 'events', runIds: [id(4), id(5), id(6), id(7)] }, 33)
      vi.advanceTimersByTime(1000)
      expect(out).toEqual([[{ type: 'events', runIds: [], truncated: true }, 33]])
      d.stop()
    } finally {
      vi.useRealTimers()
    }
  })
})
