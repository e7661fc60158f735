import type { ListRunsInput } from '@ops-control-room/core'
import { createChangeHub, createRunListStore } from '@ops-control-room/react'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countCalls, setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('createRunListStore: paged, live, incremental', () => {
  it('pages by cursor and applies changes without re-reading the pages', async () => {
    const { client, worker } = ctx
    const s = await client.sessions.create({ name: 'run list' })
    const runs = await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 300 }, (_, i) => ({
        kind: 'rl',
        lane: i < 290 ? ('A' as const) : ('B' as const),
      })),
    })
    const lists = countCalls(client, ['runs', 'list'])
    const hub = createChangeHub(client, { lingerMs: 0 })
    const store = createRunListStore(client, hub, { sessionId: s.id }, { pageSize: 50 })
    const stop = store.subscribe(() => {})
    try {
      await until(() => store.getSnapshot().status === 'success' && hub.getStatus() === 'live')
      const a = () => store.getSnapshot().lanes.A
      expect(a().runs.map((r) => r.seq)).toEqual(
        runs
          .slice(240, 290)
          .map((r) => r.seq)
          .reverse(),
      )
      expect(a().hasMore).toBe(true)
      expect(store.getSnapshot().lanes.B.runs).toHaveLength(10)
      expect(store.getSnapshot().lanes.B.hasMore).toBe(false)
      expect(store.getSnapshot().lanes.C.runs).toEqual([])

      await store.loadMore('A')
      expect(a().runs).toHaveLength(100)
      expect(a().runs.at(-1)?.seq).toBe(runs[190]?.seq)

      // A worker drains the oldest runs (none of them loaded): no page is read again.
      const pageReads = () =>
        lists.calls.filter(([input]) => (input as ListRunsInput).updatedAfter === undefined).length
      const before = pageReads()
      const from = lists.calls.length
      const claimed = await worker.worker.claim({ workerId: 'w-rl', lanes: { A: 20 }, kinds: ['rl'] })
      await worker.worker.complete({
        workerId: 'w-rl',
        results: claimed.map((r) => ({ id: r.id, lease: r.lease as string })),
      })
      // A loaded run changes: it is updated in place.
      const newest = runs[289]!
      await client.runs.cancel(newest.id, 'stop')
      await until(() => a().runs[0]?.status === 'cancelled')
      // New runs appear at the top.
      const [added] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'rl-new', lane: 'A' }] })
      await until(() => a().runs[0]?.id === added?.id)
      expect(a().runs).toHaveLength(101)
      expect(pageReads()).toBe(before)
      // Every resync asked only for what changed in the loaded window.
      expect(lists.calls.length).toBeGreaterThan(from)
      for (const [input] of lists.calls.slice(from)) {
        expect(input).toMatchObject({ sessionId: s.id, afterSeq: runs[190]!.seq - 1 })
      }
    } finally {
      stop()
      hub.dispose()
      lists.restore()
    }
  })

  it('with a status filter, a run that stops matching leaves the list', async () => {
    const { client, worker } = ctx
    const s = await client.sessions.create({ name: 'run list filtered' })
    const runs = await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 5 }, () => ({ kind: 'rlf', lane: 'C' as const })),
    })
    const hub = createChangeHub(client, { lingerMs: 0 })
    const store = createRunListStore(client, hub, { sessionId: s.id, status: ['queued'], lanes: ['C'] })
    const stop = store.subscribe(() => {})
    try {
      await until(() => store.getSnapshot().lanes.C.runs.length === 5 && hub.getStatus() === 'live')
      await worker.worker.claim({ workerId: 'w-rlf', lanes: { C: 2 }, kinds: ['rlf'] })
      await until(() => store.getSnapshot().lanes.C.runs.length === 3, 8000)
      expect(store.getSnapshot().lanes.C.runs.every((r) => r.status === 'queued')).toBe(true)
      expect(runs).toHaveLength(5)
    } finally {
      stop()
      hub.dispose()
    }
  })
})
