import { ForbiddenError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allowKinds, startTestServer, type TestServer } from './helpers'

let t: TestServer
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t.teardown())

describe('bulk actions over a filter (one transaction), through the executor API as each role', () => {
  it('counts for anyone, acts only where the role and the kind policies allow', async () => {
    await allowKinds(t.sql, ['bulk-open'])
    const service = t.client('service_role')
    const user = t.client('authenticated')
    const anon = t.client('anon')
    const s = await service.sessions.create({ name: 'bulk over http' })
    await service.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 40 }, (_, i) => ({
        kind: i % 2 ? 'bulk-open' : 'bulk-locked',
        lane: 'A' as const,
      })),
    })
    // Every run fails, so each may be retried by whoever may retry its kind.
    const claimed = await service.worker.claim({
      workerId: 'w-bulk',
      lanes: { A: 40 },
      kinds: ['bulk-open', 'bulk-locked'],
    })
    await service.worker.fail({
      workerId: 'w-bulk',
      failures: claimed.map((r) => ({
        id: r.id,
        lease: r.lease as string,
        retry: false,
        error: { type: 'E', message: 'x' },
      })),
    })
    expect(await anon.runs.count({ sessionId: s.id, status: 'failed' })).toEqual({ count: 40, capped: false })
    await expect(anon.runs.retryMatching({ filter: { sessionId: s.id } })).rejects.toBeInstanceOf(
      ForbiddenError,
    )

    // Both kinds in one filter: one transaction, so the locked kind refuses all of it.
    await expect(user.runs.retryMatching({ filter: { sessionId: s.id } })).rejects.toBeInstanceOf(
      ForbiddenError,
    )
    expect(await user.runs.count({ sessionId: s.id, status: 'failed' })).toEqual({ count: 40, capped: false })

    // A kind the role may enqueue: retried. One it may not: refused with a typed error, nothing changed.
    expect(await user.runs.retryMatching({ filter: { sessionId: s.id, kind: 'bulk-open' } })).toEqual({
      seen: 20,
      changed: 20,
      capped: false,
    })
    await expect(
      user.runs.retryMatching({ filter: { sessionId: s.id, kind: 'bulk-locked' } }),
    ).rejects.toBeInstanceOf(ForbiddenError)
    expect(await user.runs.count({ sessionId: s.id, status: 'failed' })).toEqual({ count: 20, capped: false })
    // Cancel over a filter: the retried (queued) ones.
    expect(await user.runs.cancelMatching({ filter: { sessionId: s.id, status: 'queued' } })).toEqual({
      seen: 20,
      changed: 20,
      capped: false,
    })
  })
})
