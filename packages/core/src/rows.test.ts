import { describe, expect, it } from 'vitest'
import { RUN_COLUMNS, toRun, toRunFromValues } from './rows'

const base = {
  id: '00000000-0000-4000-8000-000000000001',
  seq: 1,
  session_id: '00000000-0000-4000-8000-000000000002',
  kind: 'k',
  lane: 'A',
  priority: 0,
  params: {},
  status: 'queued',
  attempt: 0,
  max_attempts: 1,
}

/** PostgreSQL's text form of a timestamptz in the given zone offset (minutes), with `digits` of fraction. */
function pgText(ms: number, micros: number, digits: number, offsetMinutes = 0) {
  const d = new Date(ms + offsetMinutes * 60_000)
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  const fraction =
    digits === 0 ? '' : `.${`${pad(d.getUTCMilliseconds(), 3)}${pad(micros, 3)}`.slice(0, digits)}`
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  const zone = `${sign}${pad(Math.floor(abs / 60))}${abs % 60 ? `:${pad(abs % 60)}` : ''}`
  return `${date} ${time}${fraction}${zone}`
}

describe('timestamps read as PostgreSQL text', () => {
  it('become exactly what Date#toISOString gives, for every fraction length and zone', () => {
    let seed = 42
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 5000; i++) {
      const ms = Math.floor(random() * 4_000_000_000_000)
      const text = pgText(ms, Math.floor(random() * 1000), i % 7, i % 5 === 0 ? [330, -180, 60][i % 3] : 0)
      const run = toRun({ ...base, run_at: text, created_at: text, updated_at: text, claimed_at: text })
      const expected = new Date(text).toISOString()
      expect({ text, runAt: run.runAt, claimedAt: run.claimedAt }).toEqual({
        text,
        runAt: expected,
        claimedAt: expected,
      })
    }
  })

  it('keeps Dates and nulls as before', () => {
    const at = new Date('2026-11-30T14:55:01.123Z')
    const run = toRun({ ...base, run_at: at, created_at: at, updated_at: at, claimed_at: null })
    expect(run.runAt).toBe('2026-11-30T14:55:01.123Z')
    expect(run.claimedAt).toBeNull()
  })
})

describe('a run read as an array of RUN_COLUMNS', () => {
  it('is the run read as an object, field for field', () => {
    const row: Record<string, unknown> = {
      ...base,
      seq: 11,
      priority: 7,
      params: { p: 1 },
      status: 'running',
      attempt: 2,
      max_attempts: 5,
      timeout_seconds: 60,
      run_at: '2026-11-30 10:00:00.5+00',
      idempotency_key: 'key',
      template_name: 'tpl',
      template_version: 3,
      worker_id: 'w1',
      claimed_at: '2026-11-30 10:00:01+00',
      heartbeat_at: '2026-11-30 10:00:02.25+00',
      started_at: '2026-11-30 10:00:01.125+00',
      finished_at: null,
      cancel_requested_at: '2026-11-30 10:00:03+00',
      cancel_reason: 'why',
      progress: 0.5,
      progress_message: 'half',
      result: { ok: true },
      error: { type: 't', message: 'm' },
      created_by: 'u',
      created_at: '2026-11-30 09:59:59+00',
      updated_at: '2026-11-30 10:00:04+00',
      lease: '42',
    }
    // Every column of RUN_COLUMNS has a distinct value here, so a swapped position would show.
    expect(new Set(RUN_COLUMNS).size).toBe(RUN_COLUMNS.length)
    expect(Object.keys(toRun(row)).length).toBe(RUN_COLUMNS.length)
    expect(toRunFromValues(RUN_COLUMNS.map((c) => row[c]))).toEqual(toRun(row))
  })
})
