import { IdempotencyConflictError } from '@ops-control-room/core'
import { toOpsError } from '@ops-control-room/core/postgres'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
  await ctx.client.policies.set({ kind: 'report', roles: ['authenticated'] })
})
afterAll(() => ctx.teardown())

const ALICE = '6f0c1a2e-1d7b-4c55-9a39-0a4c9e0d2b11'
const BOB = '0b6a3c1e-5d2f-4e8a-9c7b-1a2b3c4d5e6f'

/** Runs `fn` as PostgREST would for an authenticated user. */
async function asUser<T>(sub: string, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  const claims = JSON.stringify({ role: 'authenticated', sub })
  return (await ctx.sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`
    return await fn(tx)
  })) as T
}

describe('idempotency keys', () => {
  it('are scoped to the session: the same key in another user’s session never returns their run', async () => {
    const [s1] = await asUser(ALICE, (tx) => tx`select * from ops.create_session('alice')`)
    const [s2] = await asUser(BOB, (tx) => tx`select * from ops.create_session('bob')`)
    const [bobs] = await asUser(
      BOB,
      (tx) =>
        tx`select * from ops.enqueue_runs(${s2!.id}, '[{"kind":"report","idempotency_key":"K","params":{"who":"bob"}}]')`,
    )
    const [alices] = await asUser(
      ALICE,
      (tx) =>
        tx`select * from ops.enqueue_runs(${s1!.id}, '[{"kind":"report","idempotency_key":"K","params":{"who":"alice"}}]')`,
    )
    expect(alices!.id).not.toBe(bobs!.id)
    expect(alices).toMatchObject({ session_id: s1!.id, params: { who: 'alice' }, created_by: ALICE })
  })

  it('the same key with the same request returns the first run, also from a template and within one batch', async () => {
    const session = await ctx.client.sessions.create({ name: 'same' })
    await ctx.client.templates.create({
      name: 'nightly',
      kind: 'report',
      lane: 'B',
      defaultParams: { depth: 1 },
    })
    const spec = { template: { name: 'nightly' }, params: { day: 'mon' }, idempotencyKey: 'n-1' }
    const [first] = await ctx.client.runs.enqueue({ sessionId: session.id, runs: [spec] })
    // A newer template version does not make a retry of the same request a different one.
    await ctx.client.templates.create({
      name: 'nightly',
      kind: 'report',
      lane: 'C',
      defaultParams: { depth: 2 },
    })
    const again = await ctx.client.runs.enqueue({ sessionId: session.id, runs: [spec, spec] })
    expect(again.map((r) => r.id)).toEqual([first!.id, first!.id])
    expect(first).toMatchObject({ lane: 'B', params: { depth: 1, day: 'mon' } })
  })

  it('the same key with a different request is a 409 idempotency_conflict, and writes nothing', async () => {
    const session = await ctx.client.sessions.create({ name: 'different' })
    await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'report', params: { n: 1 }, idempotencyKey: 'k' }],
    })
    const count = async () =>
      (await ctx.sql`select count(*)::int as n from ops.runs where session_id = ${session.id}`)[0]?.n
    const before = await count()
    for (const changed of [
      { kind: 'report', params: { n: 2 } },
      { kind: 'other', params: { n: 1 } },
      { kind: 'report', params: { n: 1 }, lane: 'D' as const },
      { kind: 'report', params: { n: 1 }, maxAttempts: 3 },
    ]) {
      const err = await ctx.client.runs
        .enqueue({ sessionId: session.id, runs: [{ kind: 'x' }, { ...changed, idempotencyKey: 'k' }] })
        .catch((e) => e)
      expect(err).toBeInstanceOf(IdempotencyConflictError)
      expect(err).toMatchObject({ code: 'idempotency_conflict', details: { key: 'k' } })
    }
    // Two elements of one batch with one key and different requests conflict too.
    const batch = await ctx.client.runs
      .enqueue({
        sessionId: session.id,
        runs: [
          { kind: 'report', idempotencyKey: 'b' },
          { kind: 'report', params: { other: true }, idempotencyKey: 'b' },
        ],
      })
      .catch((e) => e)
    expect(batch).toBeInstanceOf(IdempotencyConflictError)
    expect(await count()).toBe(before)
    // The SQLSTATE is our own, for PostgREST callers too.
    const raw =
      await ctx.sql`select ops.enqueue_runs(${session.id}, '[{"kind":"report","idempotency_key":"k"}]')`.catch(
        (e) => e,
      )
    expect(toOpsError(raw)).toBeInstanceOf(IdempotencyConflictError)
  })
})
