import type { OpsClient } from '@ops-control-room/core'
import {
  useArtifacts,
  useCancelRun,
  useCreateSession,
  useLiveStatus,
  useRun,
  useRunEvents,
  useRuns,
  useSessions,
  useTemplates,
  useWorkers,
} from '@ops-control-room/react'
import { act, renderHook, waitFor } from '@testing-library/react'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countCalls, providerFor, setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

/** A session of n runs spread over the lanes, of a kind of its own (so claims stay within it). */
async function sessionWithRuns(client: OpsClient, n: number, name = 'hooks') {
  const session = await client.sessions.create({ name })
  const kind = `k${session.id.slice(0, 8)}`
  const runs = await client.runs.enqueue({
    sessionId: session.id,
    runs: Array.from({ length: n }, (_, i) => ({ kind, lane: (['A', 'B', 'C', 'D'] as const)[i % 4] })),
  })
  return { session, runs, kind }
}

describe('hooks outside a provider', () => {
  it('throw a message that says to wrap the app in OpsProvider', () => {
    expect(() => renderHook(() => useRuns())).toThrow(
      /useRuns must be used inside <OpsProvider client=\{client\}>/,
    )
    expect(() => renderHook(() => useCancelRun())).toThrow(/useCancelRun must be used inside <OpsProvider/)
  })
})

describe('useRuns', () => {
  it('follows runs through claim, progress and completion as the database changes', async () => {
    const { client, worker } = ctx
    const { session, runs, kind } = await sessionWithRuns(client, 4)
    const { result: hook, unmount } = renderHook(
      () => ({ runs: useRuns({ sessionId: session.id }), live: useLiveStatus() }),
      { wrapper: providerFor(client) },
    )
    const result = {
      get current() {
        return hook.current.runs
      },
    }
    await waitFor(() => expect(result.current.data?.length).toBe(4))
    expect(result.current.data?.every((r) => r.status === 'queued')).toBe(true)
    await waitFor(() => expect(hook.current.live).toBe('live'))

    const claimed = await worker.worker.claim({ workerId: 'w1', lanes: { A: 1, B: 1 }, kinds: [kind] })
    expect(claimed).toHaveLength(2)
    await waitFor(() =>
      expect(result.current.data?.filter((r) => r.status === 'running').map((r) => r.workerId)).toEqual([
        'w1',
        'w1',
      ]),
    )
    const first = claimed[0]!
    await worker.worker.progress({
      workerId: 'w1',
      updates: [{ id: first.id, lease: first.lease as string, progress: 0.5, message: 'half' }],
    })
    await waitFor(() =>
      expect(result.current.data?.find((r) => r.id === first.id)).toMatchObject({
        progress: 0.5,
        progressMessage: 'half',
      }),
    )
    await worker.worker.complete({
      workerId: 'w1',
      results: [{ id: first.id, lease: first.lease as string, result: { ok: true } }],
    })
    await waitFor(() => expect(result.current.data?.find((r) => r.id === first.id)?.status).toBe('succeeded'))
    // A new run in the session appears without a reload.
    await client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'late', lane: 'D' }] })
    await waitFor(() => expect(result.current.data?.map((r) => r.kind)).toContain('late'))
    // Runs of other sessions do not enter the list.
    await sessionWithRuns(client, 2, 'other')
    await new Promise((r) => setTimeout(r, 150))
    expect(result.current.data).toHaveLength(5)
    expect(runs.every((r) => result.current.data?.some((d) => d.id === r.id))).toBe(true)
    unmount()
  })

  it('coalesces a burst of changes into a few reads', async () => {
    const { client, worker } = ctx
    const { session, kind } = await sessionWithRuns(client, 40)
    const { result: hook, unmount } = renderHook(
      () => ({ runs: useRuns({ sessionId: session.id }), live: useLiveStatus() }),
      { wrapper: providerFor(client) },
    )
    const result = {
      get current() {
        return hook.current.runs
      },
    }
    await waitFor(() => expect(result.current.data?.length).toBe(40))
    await waitFor(() => expect(hook.current.live).toBe('live'))
    const claimed = await worker.worker.claim({
      workerId: 'burst',
      lanes: { A: 10, B: 10, C: 10, D: 10 },
      kinds: [kind],
    })
    const reads = countCalls(client, ['runs', 'list'])
    try {
      // 40 separate statements → 40 notifications, sent together: a burst whatever the machine's load
      // (one after another, each waiting for the last, they spread over more than one window when busy).
      await Promise.all(
        claimed.map((run) =>
          worker.worker.progress({
            workerId: 'burst',
            updates: [{ id: run.id, lease: run.lease as string, progress: 0.25 }],
          }),
        ),
      )
      // testing-library's default of 1 s is short for 40 updates read back on a loaded machine.
      await waitFor(() => expect(result.current.data?.every((r) => r.progress === 0.25)).toBe(true), {
        timeout: 15_000,
      })
      await new Promise((r) => setTimeout(r, 100))
      expect(reads.calls.length).toBeGreaterThan(0)
      expect(reads.calls.length).toBeLessThan(20)
    } finally {
      reads.restore()
    }
    unmount()
  })

  it('stops listening when the last component unmounts', async () => {
    const { client } = ctx
    const { session } = await sessionWithRuns(client, 1)
    const wrapper = providerFor(client)
    const { result, unmount } = renderHook(
      () => ({ runs: useRuns({ sessionId: session.id }), live: useLiveStatus() }),
      { wrapper },
    )
    await waitFor(() => expect(result.current.live).toBe('live'))
    unmount()
    // The provider is gone with its hub: nothing holds a LISTEN any more. The backend keeps its
    // pool; we check the notification connection is released by watching pg_stat_activity.
    await waitFor(async () => {
      const { default: postgres } = await import('postgres')
      const sql = postgres(ctx.db.url, { max: 1, onnotice: () => {} })
      try {
        const rows =
          await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`
        expect(rows[0]?.n).toBe(0)
      } finally {
        await sql.end()
      }
    })
  })
})

describe('useRun, useCancelRun', () => {
  it('cancels a queued run at once and a running one once its worker acknowledges', async () => {
    const { client, worker } = ctx
    const { runs, kind } = await sessionWithRuns(client, 2)
    const [queued, running] = runs as [(typeof runs)[0], (typeof runs)[0]]
    const [claimed] = await worker.worker.claim({ workerId: 'wc', lanes: { B: 1 }, kinds: [kind] })
    const { result, unmount } = renderHook(
      () => ({ a: useRun(queued.id), b: useRun(running.id), cancel: useCancelRun() }),
      { wrapper: providerFor(client) },
    )
    await waitFor(() => expect(result.current.b.data?.status).toBe('running'))
    await act(() => result.current.cancel.mutate(queued.id, 'not needed'))
    await waitFor(() => expect(result.current.a.data?.status).toBe('cancelled'))
    expect(result.current.a.data?.cancelReason).toBe('not needed')

    await act(() => result.current.cancel.mutate(running.id))
    await waitFor(() => expect(result.current.b.data?.cancelRequestedAt).not.toBeNull())
    expect(result.current.b.data?.status).toBe('running')
    await worker.worker.ackCancel({
      workerId: 'wc',
      runs: [{ id: running.id, lease: claimed?.lease as string }],
    })
    await waitFor(() => expect(result.current.b.data?.status).toBe('cancelled'))
    unmount()
  })

  it('keeps the typed error of a failed cancel', async () => {
    const { client } = ctx
    const { result, unmount } = renderHook(() => useCancelRun(), { wrapper: providerFor(client) })
    await act(async () => {
      await expect(result.current.mutate('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
        code: 'not_found',
      })
    })
    expect(result.current.error?.name).toBe('NotFoundError')
    unmount()
  })
})

describe('useRunEvents', () => {
  it('tails a run: the first read takes the log, later reads only what is new', async () => {
    const { client, worker } = ctx
    const { runs } = await sessionWithRuns(client, 1)
    const run = runs[0]!
    const reads = countCalls(client, ['events', 'list'])
    const { result, unmount } = renderHook(() => useRunEvents(run.id), { wrapper: providerFor(client) })
    try {
      await waitFor(() => expect(result.current.data?.length).toBeGreaterThan(0))
      const initial = result.current.data!.length
      await worker.worker.appendEvents({
        events: [
          { runId: run.id, level: 'info', message: 'one' },
          { runId: run.id, level: 'debug', message: 'two' },
        ],
      })
      await waitFor(() =>
        expect(result.current.data?.slice(-2).map((e) => e.message)).toEqual(['one', 'two']),
      )
      await worker.worker.appendEvents({ events: [{ runId: run.id, level: 'error', message: 'three' }] })
      await waitFor(() => expect(result.current.data?.at(-1)?.message).toBe('three'))
      expect(result.current.data).toHaveLength(initial + 3)
      const ids = result.current.data!.map((e) => e.id)
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)
      // Every read after the first asked only for events after the last one held.
      const later = reads.calls.slice(1).map((args) => (args[0] as { afterId?: number }).afterId)
      expect(later.length).toBeGreaterThan(0)
      expect(later.every((id) => typeof id === 'number' && id > 0)).toBe(true)
    } finally {
      reads.restore()
      unmount()
    }
  })
})

describe('useArtifacts', () => {
  it('lists artifacts as a worker creates them', async () => {
    const { client, worker } = ctx
    const { runs } = await sessionWithRuns(client, 1)
    const run = runs[0]!
    const { result, unmount } = renderHook(() => useArtifacts(run.id), { wrapper: providerFor(client) })
    await waitFor(() => expect(result.current.data).toEqual([]))
    await worker.worker.createArtifacts({
      artifacts: [
        { runId: run.id, name: 'report.md', kind: 'text', contentType: 'text/markdown', text: '# hi' },
      ],
    })
    await waitFor(() => expect(result.current.data?.map((a) => a.name)).toEqual(['report.md']))
    unmount()
  })
})

describe('useSessions, useCreateSession', () => {
  it('shows sessions created here at once and sessions created elsewhere when their runs arrive', async () => {
    const { client, worker } = ctx
    const { result, unmount } = renderHook(() => ({ list: useSessions(), create: useCreateSession() }), {
      wrapper: providerFor(client),
    })
    await waitFor(() => expect(result.current.list.status).toBe('success'))
    const mine = await act(() => result.current.create.mutate({ name: 'made in the UI' }))
    await waitFor(() => expect(result.current.list.data?.[0]?.id).toBe(mine.id))
    const other = await worker.sessions.create({ name: 'made by a script' })
    await worker.runs.enqueue({ sessionId: other.id, runs: [{ kind: 'demo' }] })
    await waitFor(() => expect(result.current.list.data?.[0]?.id).toBe(other.id))
    unmount()
  })
})

describe('useTemplates, useWorkers', () => {
  it('lists the latest template versions and registered workers', async () => {
    const { client, worker } = ctx
    await client.templates.create({ name: 'sleep', kind: 'sleep', defaultParams: { seconds: 1 } })
    await client.templates.create({ name: 'sleep', kind: 'sleep', defaultParams: { seconds: 2 } })
    await worker.worker.heartbeat({ workerId: 'worker-7', runs: [], info: { host: 'box', lanes: ['A'] } })
    const { result, unmount } = renderHook(() => ({ t: useTemplates(), w: useWorkers({ pollMs: 50 }) }), {
      wrapper: providerFor(client),
    })
    await waitFor(() =>
      expect(result.current.t.data?.map((t) => `${t.name}@${t.version}`)).toEqual(['sleep@2']),
    )
    await waitFor(() => expect(result.current.w.data?.map((w) => w.id)).toContain('worker-7'))
    await worker.worker.heartbeat({ workerId: 'worker-8', runs: [], info: { host: 'box' } })
    await waitFor(() => expect(result.current.w.data?.map((w) => w.id)).toContain('worker-8'))
    unmount()
  })
})
