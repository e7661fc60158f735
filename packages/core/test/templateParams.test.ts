import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
let sessionId: string
beforeAll(async () => {
  ctx = await setupDatabase()
  sessionId = (await ctx.client.sessions.create({ name: 'template params' })).id
  await ctx.client.policies.set({ kind: 'deploy', roles: ['authenticated'] })
  await ctx.client.templates.create({
    name: 'deploy',
    kind: 'deploy',
    paramsSchema: {
      type: 'object',
      required: ['service'],
      properties: { service: { type: 'string', pattern: '^[a-z]+$' } },
    },
  })
  await ctx.client.templates.create({ name: 'free', kind: 'deploy' })
})
afterAll(() => ctx.teardown())

const USER = '6f0c1a2e-1d7b-4c55-9a39-0a4c9e0d2b11'

async function asUser<T>(fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  const claims = JSON.stringify({ role: 'authenticated', sub: USER })
  return (await ctx.sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`
    return await fn(tx)
  })) as T
}
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e) => (e as { code?: string }).code,
  )

describe('template params are validated on every path that creates a run from a template', () => {
  it('client.runs.enqueue({ template }) checks params against the schema, as templates.enqueue does', async () => {
    await expect(
      ctx.client.runs.enqueue({
        sessionId,
        runs: [{ template: { name: 'deploy' }, params: { service: 'API!' } }],
      }),
    ).rejects.toMatchObject({
      code: 'validation',
      message: expect.stringMatching(/runs\[0\].*params\.service/),
    })
    await expect(
      ctx.client.runs.enqueue({ sessionId, runs: [{ template: { name: 'deploy' } }] }),
    ).rejects.toMatchObject({ code: 'validation' })
    const [run] = await ctx.client.runs.enqueue({
      sessionId,
      runs: [{ template: { name: 'deploy' }, params: { service: 'api' } }],
    })
    expect(run).toMatchObject({ kind: 'deploy', templateName: 'deploy', templateVersion: 1 })
  })

  it('a direct (PostgREST-style) call cannot enqueue from a template with a schema: that path is closed', async () => {
    expect(
      await outcome(
        asUser(
          (tx) =>
            tx`select ops.enqueue_runs(${sessionId}, '[{"template_name":"deploy","params":{"service":"NOT OK"}}]')`,
        ),
      ),
    ).toBe('OPVAL')
    // Templates without a schema stay open, and the executor's validated path is let through.
    expect(
      await outcome(asUser((tx) => tx`select ops.enqueue_runs(${sessionId}, '[{"template_name":"free"}]')`)),
    ).toBe('ok')
    expect(
      await outcome(
        asUser(
          (tx) =>
            tx`select set_config('ops.template_params_checked', 'on', true), ops.enqueue_runs(${sessionId}, '[{"template_name":"deploy","params":{"service":"api"}}]')`,
        ),
      ),
    ).toBe('ok')
  })
})
