import { isOpsError, MAX_PARAMS_BYTES, type OpsError } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
let sessionId: string
beforeAll(async () => {
  ctx = await setupDatabase()
  sessionId = (await ctx.client.sessions.create({ name: 'bad input' })).id
})
afterAll(() => ctx.teardown())

async function counts() {
  const [row] = await ctx.sql`
    select (select count(*) from ops.sessions)::int as sessions, (select count(*) from ops.runs)::int as runs,
           (select count(*) from ops.run_events)::int as events, (select count(*) from ops.run_templates)::int as templates`
  return row
}

async function rejection(p: Promise<unknown>): Promise<OpsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isOpsError(err)) throw new Error(`expected an OpsError, got ${String(err)}`)
  return err
}

describe('bad input gets a typed error and changes nothing', () => {
  const cases: [string, (c: typeof ctx.client) => Promise<unknown>, string][] = [
    [
      'a wrong type',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', priority: 'high' as never }] }),
      'validation',
    ],
    [
      'an unknown lane',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', lane: 'E' as never }] }),
      'validation',
    ],
    ['a bad kind', (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'Not A Kind!' }] }), 'validation'],
    ['no kind and no template', (c) => c.runs.enqueue({ sessionId, runs: [{ lane: 'A' }] }), 'validation'],
    ['an empty batch', (c) => c.runs.enqueue({ sessionId, runs: [] }), 'validation'],
    [
      'a session id that is not a uuid',
      (c) => c.runs.enqueue({ sessionId: 'nope', runs: [{ kind: 'x' }] }),
      'validation',
    ],
    [
      'an unknown field',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', colour: 'red' } as never] }),
      'validation',
    ],
    [
      'oversized params',
      (c) =>
        c.runs.enqueue({
          sessionId,
          runs: [{ kind: 'x', params: { blob: 'x'.repeat(MAX_PARAMS_BYTES + 1) } }],
        }),
      'validation',
    ],
    [
      'params that are not an object',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', params: [1, 2] as never }] }),
      'validation',
    ],
    [
      'a password in params',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', params: { db: { password: 'hunter2' } } }] }),
      'secret_in_params',
    ],
    [
      'a GitHub token value',
      (c) =>
        c.runs.enqueue({
          sessionId,
          runs: [{ kind: 'x', params: { repo: 'a', note: `ghp_${'a'.repeat(36)}` } }],
        }),
      'secret_in_params',
    ],
    [
      'an AWS key id',
      (c) => c.runs.enqueue({ sessionId, runs: [{ kind: 'x', params: { keys: ['AKIAIOSFODNN7EXAMPLE'] } }] }),
      'secret_in_params',
    ],
    [
      'a bearer header',
      (c) =>
        c.runs.enqueue({
          sessionId,
          runs: [{ kind: 'x', params: { headers: { auth: 'Bearer abcdefghijkl' } } }],
        }),
      'secret_in_params',
    ],
    [
      'a session that does not exist',
      (c) => c.runs.enqueue({ sessionId: '00000000-0000-4000-8000-000000000000', runs: [{ kind: 'x' }] }),
      'not_found',
    ],
    [
      'a template that does not exist',
      (c) => c.runs.enqueue({ sessionId, runs: [{ template: { name: 'missing' } }] }),
      'not_found',
    ],
    ['an empty session name', (c) => c.sessions.create({ name: '  ' }), 'validation'],
    ['a negative claim limit', (c) => c.worker.claim({ workerId: 'w', lanes: { A: -1 } }), 'validation'],
    [
      'an error without a type',
      (c) =>
        c.worker.fail({
          workerId: 'w',
          failures: [{ id: sessionId, lease: '1', error: { message: 'x' } as never }],
        }),
      'validation',
    ],
    [
      'an artifact name that is a path',
      (c) =>
        c.worker.createArtifacts({
          artifacts: [{ runId: sessionId, name: '../etc/passwd', kind: 'text', text: 'x' }],
        }),
      'validation',
    ],
  ]

  for (const [what, call, code] of cases) {
    it(`rejects ${what} with ${code}`, async () => {
      const before = await counts()
      const err = await rejection(call(ctx.client))
      expect(err.code).toBe(code)
      expect(err.message.length).toBeGreaterThan(5)
      expect(await counts()).toEqual(before)
    })
  }

  it('names the offending path of a secret, and the database refuses it too when the client is bypassed', async () => {
    const err = await rejection(
      ctx.client.runs.enqueue({
        sessionId,
        runs: [{ kind: 'ok' }, { kind: 'x', params: { deploy: { apiKey: 'abc' } } }],
      }),
    )
    expect(err.code).toBe('secret_in_params')
    expect((err.details as { path: string }).path).toBe('runs[1].params.deploy.apiKey')
    const before = await counts()
    const direct =
      await ctx.sql`select ops.enqueue_runs(${sessionId}, ${ctx.sql.json([{ kind: 'ok' }, { kind: 'x', params: { url: 'postgres://app:s3cret@db/prod' } }])}::jsonb)`.catch(
        (e) => e,
      )
    expect(direct.code).toBe('OPSEC')
    expect(direct.detail).toBe('params.url')
    // The whole batch is rejected: the valid first run was not half-written.
    expect(await counts()).toEqual(before)
  })

  it('keeps harmless look-alikes', async () => {
    const [run] = await ctx.client.runs.enqueue({
      sessionId,
      runs: [
        {
          kind: 'llm',
          params: { max_tokens: 512, tokenizer: 'cl100k', require_password: true, password_min_length: 12 },
        },
      ],
    })
    expect(run?.params.max_tokens).toBe(512)
  })

  it('maps a database that cannot be reached to unavailable', async () => {
    const { createOpsClient } = await import('@ops-control-room/core')
    const { postgresBackend } = await import('@ops-control-room/core/postgres')
    const client = createOpsClient({
      backend: postgresBackend({ databaseUrl: 'postgres://x:y@127.0.0.1:1/none' }),
    })
    const err = await rejection(client.sessions.list())
    expect(err.code).toBe('unavailable')
    await client.close()
  })
})
