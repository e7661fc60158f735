import { toOpsError } from '@ops-control-room/core/postgres'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
let sessionId: string
beforeAll(async () => {
  ctx = await setupDatabase()
  sessionId = (await ctx.client.sessions.create({ name: 'policies' })).id
})
afterAll(() => ctx.teardown())

const ALICE = '6f0c1a2e-1d7b-4c55-9a39-0a4c9e0d2b11'
const BOB = '0b6a3c1e-5d2f-4e8a-9c7b-1a2b3c4d5e6f'
type Role = 'anon' | 'authenticated' | 'service_role'

/** Runs `fn` as PostgREST would for a request with this role and these claims. */
async function as<T>(
  role: Role,
  claims: Record<string, unknown>,
  fn: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  return (await ctx.sql.begin(async (tx) => {
    await tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${JSON.stringify({ role, ...claims })}, true)`
    return await fn(tx)
  })) as T
}

/** 'ok', or the SQLSTATE with which enqueueing `runs` as `role` fails. */
async function enqueueAs(role: Role, claims: Record<string, unknown>, runs: unknown[]): Promise<string> {
  try {
    await as(
      role,
      claims,
      (tx) => tx`select * from ops.enqueue_runs(${sessionId}, ${ctx.sql.json(runs as never)}::jsonb)`,
    )
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

describe('per-kind enqueue policy, enforced in SQL', () => {
  it('a kind nobody allowed (shell) is service_role-only: authenticated is refused, anon cannot call at all', async () => {
    expect(
      await enqueueAs('authenticated', { sub: ALICE }, [{ kind: 'shell', params: { command: 'id' } }]),
    ).toBe('42501')
    expect(await enqueueAs('anon', {}, [{ kind: 'shell' }])).toBe('42501')
    expect(await enqueueAs('service_role', {}, [{ kind: 'shell', params: { command: 'id' } }])).toBe('ok')
    // A direct connection as the owner (workers, migrations, postgresBackend) is trusted as well.
    await expect(ctx.client.runs.enqueue({ sessionId, runs: [{ kind: 'shell' }] })).resolves.toHaveLength(1)
  })

  it('one forbidden kind in a batch refuses the whole batch and writes nothing', async () => {
    await ctx.client.policies.set({ kind: 'report', roles: ['authenticated'] })
    const before = (await ctx.sql`select count(*)::int as n from ops.runs`)[0]?.n
    expect(await enqueueAs('authenticated', { sub: ALICE }, [{ kind: 'report' }, { kind: 'shell' }])).toBe(
      '42501',
    )
    expect((await ctx.sql`select count(*)::int as n from ops.runs`)[0]?.n).toBe(before)
    expect(await enqueueAs('authenticated', { sub: ALICE }, [{ kind: 'report' }, { kind: 'report' }])).toBe(
      'ok',
    )
  })

  it('a policy can name users (sub) and require JWT claims', async () => {
    await ctx.client.policies.set({ kind: 'deploy', roles: ['authenticated'], userIds: [ALICE] })
    expect(await enqueueAs('authenticated', { sub: ALICE }, [{ kind: 'deploy' }])).toBe('ok')
    expect(await enqueueAs('authenticated', { sub: BOB }, [{ kind: 'deploy' }])).toBe('42501')

    await ctx.client.policies.set({
      kind: 'deploy',
      roles: ['authenticated'],
      claims: { app_metadata: { ops: 'operator' } },
    })
    expect(await enqueueAs('authenticated', { sub: BOB }, [{ kind: 'deploy' }])).toBe('42501')
    expect(
      await enqueueAs('authenticated', { sub: BOB, app_metadata: { ops: 'operator', x: 1 } }, [
        { kind: 'deploy' },
      ]),
    ).toBe('ok')
  })

  it('the kind a template supplies is the one checked', async () => {
    await ctx.client.templates.create({ name: 'tpl-shell', kind: 'shell' })
    expect(await enqueueAs('authenticated', { sub: ALICE }, [{ template_name: 'tpl-shell' }])).toBe('42501')
    await ctx.client.templates.create({ name: 'tpl-report', kind: 'report' })
    expect(await enqueueAs('authenticated', { sub: ALICE }, [{ template_name: 'tpl-report' }])).toBe('ok')
  })

  it("'*' allows every kind; deleting a policy makes its kind service_role-only again", async () => {
    await ctx.client.policies.set({ kind: '*', roles: ['authenticated'], description: 'dev only' })
    expect(await enqueueAs('authenticated', { sub: BOB }, [{ kind: 'anything' }])).toBe('ok')
    expect(await ctx.client.policies.delete('*')).toBe(true)
    expect(await ctx.client.policies.delete('*')).toBe(false)
    expect(await enqueueAs('authenticated', { sub: BOB }, [{ kind: 'anything' }])).toBe('42501')
    const kinds = (await ctx.client.policies.list()).map((p) => p.kind)
    expect(kinds).toEqual(['deploy', 'report'])
  })

  it('the refusal reaches a client as a ForbiddenError naming the kind', async () => {
    const err = await as(
      'authenticated',
      { sub: ALICE },
      (tx) => tx`select * from ops.enqueue_runs(${sessionId}, '[{"kind":"shell"}]')`,
    ).catch(toOpsError)
    expect(err).toMatchObject({ code: 'forbidden' })
    expect(String((err as Error).message)).toMatch(/may not enqueue runs of kind shell/)
  })

  it('only service_role manages policies; anon and authenticated can neither read nor write them', async () => {
    for (const role of ['anon', 'authenticated'] as const) {
      for (const stmt of [
        (tx: postgres.TransactionSql) => tx`select * from ops.kind_policies`,
        (tx: postgres.TransactionSql) =>
          tx`select ops.set_kind_policy('{"kind":"shell","roles":["authenticated"]}')`,
        (tx: postgres.TransactionSql) => tx`select ops.delete_kind_policy('report')`,
        (tx: postgres.TransactionSql) =>
          tx`insert into ops.kind_policies (kind, roles) values ('shell', '{authenticated}')`,
      ]) {
        const code = await as(role, { sub: ALICE }, stmt).then(
          () => 'ok',
          (e) => (e as { code?: string }).code,
        )
        expect([role, code]).toEqual([role, '42501'])
      }
    }
    const [row] = await as(
      'service_role',
      {},
      (tx) => tx`select * from ops.set_kind_policy('{"kind":"lint","roles":["authenticated"]}')`,
    )
    expect(row?.kind).toBe('lint')
  })

  it('a policy with a bad kind or no roles is refused with a ValidationError', async () => {
    await expect(
      ctx.client.policies.set({ kind: 'Bad Kind!', roles: ['authenticated'] }),
    ).rejects.toMatchObject({
      code: 'validation',
    })
    await expect(ctx.client.policies.set({ kind: 'ok', roles: [] })).rejects.toMatchObject({
      code: 'validation',
    })
  })
})
