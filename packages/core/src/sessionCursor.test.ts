import { describe, expect, it } from 'vitest'
import { decodeSessionCursor, encodeSessionCursor } from './sessionCursor'

describe('session cursor', () => {
  const id = '0b9c6a52-6f0e-4d55-9e43-2b1f5d0c1a7e'

  it('round-trips a microsecond position and is URL-safe', () => {
    const cursor = encodeSessionCursor('2026-11-30T09:15:46.123456Z', id)
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(decodeSessionCursor(cursor)).toEqual({ at: '2026-11-30T09:15:46.123456Z', id })
  })

  it('refuses what it did not make', () => {
    const b64 = (s: string) => btoa(s).replace(/=+$/, '')
    for (const bad of [
      '',
      'not a cursor!',
      'x'.repeat(500),
      b64(`s1|2026-11-30T09:15:46.123Z|${id}`),
      b64(`s1|2026-13-30T09:15:46.123456Z|${id}`),
      b64(`s1|2026-02-31T09:15:46.123456Z|${id}`),
      b64(`s2|2026-11-30T09:15:46.123456Z|${id}`),
      b64('s1|2026-11-30T09:15:46.123456Z|nope'),
    ]) {
      expect(decodeSessionCursor(bad)).toBeNull()
    }
    expect(() => encodeSessionCursor('2026-11-30 09:15:46', id)).toThrow(TypeError)
  })
})
