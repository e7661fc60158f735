import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
let sessionId: string
let runId: string
beforeAll(async () => {
  ctx = await setupDatabase()
  const session = await ctx.client.sessions.create({ name: 'rls' })
  sessionId = session.id
  const [run] = await ctx.client.runs.enqueue({ sessionId, runs: [{ kind: 'rls', params: { n: 1 } }] })
  runId = run?.id as string
  // Signed-in users may enqueue only kinds an operator allowed (see kindPolicies.test.ts).
  await ctx.sql`insert into ops.kind_policies (kind, roles) values ('user-run', '{authenticated}')`
  await ctx.client.worker.claim({ workerId: 'w', lanes: { A: 1 }, kinds: ['rls'] })
  await ctx.client.worker.appendEvents({ events: [{ runId, message: 'hello' }] })
  await ctx.client.worker.createArtifacts({
    artifacts: [{ runId, name: 'note.txt', kind: 'text', text: 'hi' }],
  })
})
afterAll(() => ctx.teardown())

const USER = '6f0c1a2e-1d7b-4c55-9a39-0a4c9e0d2b11'

/** Runs `fn` as PostgREST would for a request with this role: `set local role` and the JWT claims. */
async function as<T>(
  role: 'anon' | 'authenticated' | 'service_role',
  fn: (tx: postgres.TransactionSql) => Promise<T>,
) {
  const claims = JSON.stringify(role === 'authenticated' ? { role, sub: USER } : { role })
  return (await ctx.sql.begin(async (tx) => {
    await tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${claims}, true)`
    return await fn(tx)
  })) as T
}

/** The SQLSTATE a statement fails with as `role`, or 'ok'. */
async function outcome(
  role: 'anon' | 'authenticated' | 'service_role',
  statement: (tx: postgres.TransactionSql) => Promise<unknown>,
) {
  try {
    await as(role, statement)
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

describe('row level security and grants, as PostgREST runs requests', () => {
  it('anon reads sessions and runs, but no events, artifacts, templates or workers', async () => {
    expect((await as('anon', (tx) => tx`select id from ops.sessions where id = ${sessionId}`)).length).toBe(1)
    expect((await as('anon', (tx) => tx`select id from ops.runs where id = ${runId}`)).length).toBe(1)
    for (const table of ['run_events', 'artifacts', 'run_templates', 'workers']) {
      expect(await outcome('anon', (tx) => tx.unsafe(`select * from ops.${table}`))).toBe('42501')
    }
  })

  it('anon writes nothing, neither through tables nor functions', async () => {
    expect(await outcome('anon', (tx) => tx`insert into ops.sessions (name) values ('x')`)).toBe('42501')
    expect(
      await outcome('anon', (tx) => tx`update ops.runs set status = 'succeeded' where id = ${runId}`),
    ).toBe('42501')
    expect(await outcome('anon', (tx) => tx`delete from ops.runs`)).toBe('42501')
    expect(await outcome('anon', (tx) => tx`select ops.create_session('x')`)).toBe('42501')
    expect(await outcome('anon', (tx) => tx`select ops.enqueue_runs(${sessionId}, '[{"kind":"x"}]')`)).toBe(
      '42501',
    )
    expect(await outcome('anon', (tx) => tx`select ops.request_cancel(${[runId]}::uuid[])`)).toBe('42501')
  })

  it('authenticated reads everything and creates sessions, enqueues and cancels, recording who', async () => {
    for (const table of ['sessions', 'runs', 'run_events', 'artifacts', 'run_templates', 'workers']) {
      expect(await outcome('authenticated', (tx) => tx.unsafe(`select * from ops.${table}`))).toBe('ok')
    }
    const [session] = await as('authenticated', (tx) => tx`select * from ops.create_session('mine')`)
    expect(session?.created_by).toBe(USER)
    const runs = await as(
      'authenticated',
      (tx) => tx`select * from ops.enqueue_runs(${session?.id}, '[{"kind":"user-run"}]')`,
    )
    expect(runs[0]?.created_by).toBe(USER)
    const [cancelled] = await as(
      'authenticated',
      (tx) => tx`select * from ops.request_cancel(${[runs[0]?.id]}::uuid[], 'mine')`,
    )
    expect(cancelled?.status).toBe('cancelled')
  })

  it('authenticated cannot claim, heartbeat, complete, fail, recover or write tables directly', async () => {
    const calls: [string, (tx: postgres.TransactionSql) => Promise<unknown>][] = [
      ['claim', (tx) => tx`select ops.claim_runs('w', '{A}', '{1}', null)`],
      ['heartbeat', (tx) => tx`select ops.heartbeat('w', ${[runId]}::uuid[], null)`],
      ['complete', (tx) => tx`select ops.complete_runs('w', ${ctx.sql.json([{ id: runId }])}::jsonb)`],
      [
        'fail',
        (tx) =>
          tx`select ops.fail_runs('w', ${ctx.sql.json([{ id: runId, error: { type: 'x', message: 'y' } }])}::jsonb)`,
      ],
      ['ack', (tx) => tx`select ops.ack_cancel('w', ${[runId]}::uuid[], null)`],
      ['release', (tx) => tx`select ops.release_runs('w', ${[runId]}::uuid[], null)`],
      ['recover', (tx) => tx`select ops.recover_stuck_runs(30, 10)`],
      ['events', (tx) => tx`select ops.append_events('[]')`],
      ['artifacts', (tx) => tx`select ops.create_artifacts('[]')`],
      ['templates', (tx) => tx`select ops.create_template('{"name":"t","kind":"k"}')`],
      ['progress', (tx) => tx`select ops.update_progress('w', '[]')`],
      ['update runs', (tx) => tx`update ops.runs set status = 'succeeded' where id = ${runId}`],
      ['insert events', (tx) => tx`insert into ops.run_events (run_id, message) values (${runId}, 'forged')`],
    ]
    for (const [name, call] of calls) {
      expect([name, await outcome('authenticated', call)]).toEqual([name, '42501'])
    }
    expect((await ctx.client.runs.get(runId)).status).toBe('running')
  })

  it("service_role, the workers' role, may claim, heartbeat and complete", async () => {
    const [session] = await as('service_role', (tx) => tx`select * from ops.create_session('svc')`)
    await as(
      'service_role',
      (tx) => tx`select * from ops.enqueue_runs(${session?.id}, '[{"kind":"svc-run"}]')`,
    )
    const claimed = await as(
      'service_role',
      (tx) => tx`select * from ops.claim_runs('svc', '{A}', '{5}', '{svc-run}')`,
    )
    expect(claimed).toHaveLength(1)
    const id = claimed[0]?.id as string
    const lease = String(claimed[0]?.lease)
    expect(
      await outcome(
        'service_role',
        (tx) => tx`select * from ops.heartbeat('svc', ${[id]}::uuid[], ${[lease]}::bigint[], null)`,
      ),
    ).toBe('ok')
    const done = await as(
      'service_role',
      (tx) => tx`select * from ops.complete_runs('svc', ${ctx.sql.json([{ id, lease, result: 1 }])}::jsonb)`,
    )
    expect(done[0]?.status).toBe('succeeded')
  })
})
