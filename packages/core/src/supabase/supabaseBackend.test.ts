import { describe, expect, it } from 'vitest'
import { changesFromRealtime } from './supabaseBackend'

const id = '00000000-0000-4000-8000-000000000001'
const sessionId = '00000000-0000-4000-8000-000000000002'
const base = {
  id,
  session_id: sessionId,
  lane: 'B',
  status: 'running',
  progress: null,
  progress_message: null,
  cancel_requested_at: null,
  worker_id: 'w',
}

describe('changesFromRealtime', () => {
  it('reports inserts, and wakes workers for queued runs', () => {
    expect(
      changesFromRealtime({
        eventType: 'INSERT',
        new: { ...base, status: 'queued', worker_id: null },
        old: {},
      }),
    ).toEqual([
      { type: 'run', id, sessionId, status: 'queued', lane: 'B' },
      { type: 'queued', lane: 'B' },
    ])
  })

  it('ignores heartbeat-only updates', () => {
    expect(
      changesFromRealtime({
        eventType: 'UPDATE',
        new: { ...base, heartbeat_at: 'later' },
        old: { ...base, heartbeat_at: 'earlier' },
      }),
    ).toEqual([])
  })

  it('reports a cancel request on a running run once, to its worker', () => {
    const requested = { ...base, cancel_requested_at: '2026-11-28T00:00:00Z' }
    expect(changesFromRealtime({ eventType: 'UPDATE', new: requested, old: base })).toEqual([
      { type: 'run', id, sessionId, status: 'running', lane: 'B' },
      { type: 'cancel', runId: id, workerId: 'w' },
    ])
    expect(
      changesFromRealtime({ eventType: 'UPDATE', new: { ...requested, heartbeat_at: 'x' }, old: requested }),
    ).toEqual([])
  })

  it('reports status and progress changes, and nothing for deletes', () => {
    expect(
      changesFromRealtime({ eventType: 'UPDATE', new: { ...base, progress: 0.5 }, old: base }),
    ).toHaveLength(1)
    expect(
      changesFromRealtime({
        eventType: 'UPDATE',
        new: { ...base, status: 'queued', worker_id: null },
        old: base,
      }),
    ).toEqual([
      { type: 'run', id, sessionId, status: 'queued', lane: 'B' },
      { type: 'queued', lane: 'B' },
    ])
    expect(changesFromRealtime({ eventType: 'DELETE', new: {}, old: { id } })).toEqual([])
  })
})
