import type { Change } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('client reads and live changes', () => {
  it('watches the runs of one session only, through claim and completion', async () => {
    const { client } = ctx
    const mine = await client.sessions.create({ name: 'watched' })
    const other = await client.sessions.create({ name: 'not watched' })
    const seen: Change[] = []
    const stop = await client.runs.watch({ sessionId: mine.id }, (c) => seen.push(c))
    try {
      const [run] = await client.runs.enqueue({ sessionId: mine.id, runs: [{ kind: 'watch-me', lane: 'C' }] })
      await client.runs.enqueue({ sessionId: other.id, runs: [{ kind: 'watch-me', lane: 'C' }] })
      const [claimed] = await client.worker.claim({ workerId: 'w', lanes: { C: 1 }, kinds: ['watch-me'] })
      expect(claimed?.id).toBe(run?.id)
      await client.worker.complete({
        workerId: 'w',
        results: [{ id: run?.id as string, lease: claimed?.lease as string }],
      })
      await expect
        .poll(() => seen.map((c) => c.type === 'run' && `${c.sessionId === mine.id}:${c.status}`), {
          timeout: 5000,
        })
        .toEqual(['true:queued', 'true:running', 'true:succeeded'])
    } finally {
      await stop()
    }
  })

  it('wakes listeners of a lane when work is queued there', async () => {
    const { client } = ctx
    const lanes: string[] = []
    const stop = await client.subscribe((c) => {
      if (c.type === 'queued') lanes.push(c.lane)
    })
    try {
      const s = await client.sessions.create({ name: 'wake' })
      await client.runs.enqueue({
        sessionId: s.id,
        runs: [
          { kind: 'x', lane: 'D' },
          { kind: 'x', lane: 'D' },
          { kind: 'x', lane: 'B' },
        ],
      })
      await expect.poll(() => [...lanes].sort(), { timeout: 5000 }).toEqual(['B', 'D'])
    } finally {
      await stop()
    }
  })

  it('delivers only the change types asked for', async () => {
    const { client } = ctx
    const got: Change[] = []
    const all: Change[] = []
    const stopAll = await client.subscribe((c) => all.push(c))
    const stop = await client.subscribe((c) => got.push(c), { types: ['queued', 'cancel'] })
    try {
      const s = await client.sessions.create({ name: 'typed' })
      const [run] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'typed', lane: 'D' }] })
      await client.worker.claim({ workerId: 'w-typed', lanes: { D: 1 }, kinds: ['typed'] })
      await client.runs.cancel(run?.id as string)
      await expect.poll(() => got.filter((c) => c.type === 'cancel').length, { timeout: 5000 }).toBe(1)
      await expect.poll(() => all.filter((c) => c.type === 'cancel').length, { timeout: 5000 }).toBe(1)
      // The unfiltered listener heard status and event changes; the filtered one only its two types.
      expect(all.some((c) => c.type === 'run')).toBe(true)
      expect(all.some((c) => c.type === 'events')).toBe(true)
      expect(new Set(got.map((c) => c.type))).toEqual(new Set(['queued', 'cancel']))
    } finally {
      await stop()
      await stopAll()
    }
    await expect(client.subscribe(() => {}, { types: ['nope' as 'run'] })).rejects.toMatchObject({
      code: 'validation',
    })
    await expect(client.subscribe(() => {}, { types: [] })).rejects.toMatchObject({ code: 'validation' })
  })

  it('lists runs by session, status, lane and kind, and pages sessions', async () => {
    const { client } = ctx
    const s = await client.sessions.create({ name: 'filters', metadata: { pr: 12 } })
    const runs = await client.runs.enqueue({
      sessionId: s.id,
      runs: [
        { kind: 'lint', lane: 'A' },
        { kind: 'test', lane: 'B' },
        { kind: 'build', lane: 'B' },
      ],
    })
    await client.runs.cancel(runs[2]?.id as string)
    expect((await client.runs.list({ sessionId: s.id })).map((r) => r.kind)).toEqual([
      'build',
      'test',
      'lint',
    ])
    expect(
      (await client.runs.list({ sessionId: s.id, lane: 'B', status: 'queued' })).map((r) => r.kind),
    ).toEqual(['test'])
    expect(
      (await client.runs.list({ sessionId: s.id, status: ['queued', 'cancelled'], kind: 'build' })).length,
    ).toBe(1)
    const after = await client.runs.list({ sessionId: s.id, afterSeq: runs[0]?.seq })
    expect(after.map((r) => r.kind)).toEqual(['test', 'build'])
    expect((await client.sessions.get(s.id)).metadata).toEqual({ pr: 12 })
    const page = await client.sessions.list({ limit: 1 })
    expect(page).toHaveLength(1)
    const older = await client.sessions.list({ limit: 100, before: page[0]?.createdAt })
    expect(older.every((x) => x.createdAt < (page[0]?.createdAt ?? ''))).toBe(true)
  })

  it('reads events after an id and by level, and artifacts of a run', async () => {
    const { client } = ctx
    const s = await client.sessions.create({ name: 'events' })
    const [run] = await client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'ev' }] })
    const runId = run?.id as string
    await client.worker.appendEvents({
      events: [
        { runId, level: 'debug', message: 'd' },
        { runId, level: 'warn', message: 'w', data: { disk: 0.91 } },
        { runId, level: 'error', message: 'e' },
      ],
    })
    const all = await client.events.list({ runId })
    expect(all.map((e) => e.message)).toEqual(['enqueued in lane A', 'd', 'w', 'e'])
    expect((await client.events.list({ runId, levels: ['warn', 'error'] })).map((e) => e.message)).toEqual([
      'w',
      'e',
    ])
    expect((await client.events.list({ runId, afterId: all[2]?.id })).map((e) => e.message)).toEqual(['e'])
    await client.worker.createArtifacts({
      artifacts: [
        { runId, name: 'report.md', kind: 'text', text: '# ok', contentType: 'text/markdown' },
        { runId, name: 'dashboard', kind: 'link', url: 'https://example.com/d/1' },
      ],
    })
    const artifacts = await client.artifacts.list({ runId })
    // Oldest first; artifacts created together are in name order.
    expect(artifacts.map((a) => [a.name, a.kind, a.size])).toEqual([
      ['dashboard', 'link', null],
      ['report.md', 'text', 4],
    ])
    expect(Date.parse(artifacts[1]?.expiresAt ?? '') - Date.now()).toBeGreaterThan(89 * 86_400_000)
    expect((await client.artifacts.get(artifacts[1]?.id as string)).text).toBe('# ok')
  })
})
