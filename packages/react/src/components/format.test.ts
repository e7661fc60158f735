import { describe, expect, it } from 'vitest'
import { formatBytes, formatDuration, runElapsedMs } from './format'

describe('format', () => {
  it('formats durations for cards', () => {
    expect(formatDuration(400)).toBe('0.4s')
    expect(formatDuration(42_000)).toBe('42s')
    expect(formatDuration(65_000)).toBe('1m 05s')
    expect(formatDuration(3_700_000)).toBe('1h 01m')
    expect(formatDuration(-1)).toBe('—')
  })
  it('measures elapsed time to the finish, or to now while running', () => {
    const startedAt = '2026-01-01T00:00:00.000Z'
    expect(runElapsedMs({ startedAt: null, finishedAt: null }, 0)).toBeNull()
    expect(
      runElapsedMs({ startedAt, finishedAt: '2026-01-01T00:00:05.000Z' }, Date.parse(startedAt) + 99_000),
    ).toBe(5000)
    expect(runElapsedMs({ startedAt, finishedAt: null }, Date.parse(startedAt) + 7000)).toBe(7000)
  })
  it('formats sizes', () => {
    expect(formatBytes(null)).toBe('')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB')
  })
})
