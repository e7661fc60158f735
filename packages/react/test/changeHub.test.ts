import type { Change } from '@ops-control-room/core'
import { createChangeHub } from '@ops-control-room/react'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

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

describe('createChangeHub', () => {
  it('shares one subscription and delivers changes to every listener', async () => {
    const hub = createChangeHub(ctx.client, { lingerMs: 0 })
    const a: Change[] = []
    const b: Change[] = []
    const stopA = hub.listen({ onChange: (c) => a.push(c) })
    const stopB = hub.listen({ onChange: (c) => b.push(c) })
    await until(() => hub.getStatus() === 'live')
    const s = await ctx.client.sessions.create({ name: 'hub' })
    const [run] = await ctx.client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'hub', lane: 'C' }] })
    await until(() => a.some((c) => c.type === 'run' && c.id === run?.id))
    await until(() => b.some((c) => c.type === 'run' && c.id === run?.id))
    stopA()
    stopB()
    await until(() => hub.getStatus() === 'idle')
  })

  it('stays live when it is closed and reopened while the first subscription is still opening', async () => {
    // A component unmounting and another mounting while the stream connects (React StrictMode, or
    // navigation during a slow SSE connect): the first subscription resolves after the second began.
    const hub = createChangeHub(ctx.client, { lingerMs: 0 })
    hub.listen({ onChange: () => {} })
    hub.dispose() // closed synchronously, while the first subscribe is still pending
    expect(hub.getStatus()).toBe('idle')
    const seen: Change[] = []
    const stop = hub.listen({ onChange: (c) => seen.push(c) })
    await until(() => hub.getStatus() === 'live')
    await new Promise((r) => setTimeout(r, 100)) // the first subscription has resolved (and been dropped)
    const s = await ctx.client.sessions.create({ name: 'reopened' })
    const [run] = await ctx.client.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'hub', lane: 'D' }] })
    await until(() => seen.some((c) => c.type === 'run' && c.id === run?.id))
    stop()
  })
})
