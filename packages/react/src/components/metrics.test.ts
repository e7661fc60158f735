import type { Run, WorkerInfo } from '@ops-control-room/core'
import { describe, expect, it } from 'vitest'
import { computeMetrics } from './metrics'

const now = Date.parse('2026-01-01T12:00:00.000Z')
const ago = (ms: number) => new Date(now - ms).toISOString()
const run = (patch: Partial<Run>): Run =>
  ({
    id: crypto.randomUUID(),
    status: 'queued',
    finishedAt: null,
    error: null,
    updatedAt: ago(0),
    ...patch,
  }) as Run
const worker = (patch: Partial<WorkerInfo>): WorkerInfo =>
  ({ id: 'w', stoppedAt: null, lastSeenAt: ago(1000), ...patch }) as WorkerInfo

describe('computeMetrics', () => {
  it('counts throughput and error rate over the window, in flight, queued and live workers', () => {
    const m = computeMetrics(
      [
        run({ status: 'succeeded', finishedAt: ago(60_000) }),
        run({ status: 'succeeded', finishedAt: ago(120_000) }),
        run({ status: 'failed', finishedAt: ago(10_000) }),
        run({ status: 'failed', finishedAt: ago(3_600_000) }), // outside the window
        run({ status: 'running' }),
        run({ status: 'queued' }),
        run({ status: 'queued' }),
      ],
      [
        worker({ id: 'a' }),
        worker({ id: 'b', lastSeenAt: ago(120_000) }),
        worker({ id: 'c', stoppedAt: ago(5) }),
      ],
      now,
      { windowMs: 5 * 60_000 },
    )
    expect(m.throughputPerMinute).toBeCloseTo(3 / 5)
    expect(m.errorRate).toBeCloseTo(1 / 3)
    expect(m.inFlight).toBe(1)
    expect(m.queued).toBe(2)
    expect(m.workersAlive).toBe(1)
    expect(m.lastRecovery).toBeNull()
  })
  it('reports the latest recovery from a heartbeat timeout', () => {
    const error = (hb: string) => ({
      type: 'heartbeat_timeout',
      message: 'silent',
      context: { worker_id: 'gone', heartbeat_at: hb, timeout_seconds: 30 },
    })
    const m = computeMetrics(
      [run({ id: 'old', error: error(ago(600_000)) }), run({ id: 'new', error: error(ago(60_000)) })],
      [],
      now,
    )
    expect(m.lastRecovery).toEqual({ runId: 'new', workerId: 'gone', at: ago(30_000) })
    expect(m.errorRate).toBeNull()
  })
})
