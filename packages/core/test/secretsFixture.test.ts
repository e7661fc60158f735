import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findSecret, isOpsError } from '@ops-control-room/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupDatabase } from './helpers'

/** One table of cases for both layers: the TypeScript check and ops.find_secret must agree on each. */
interface Case {
  why: string
  params: Record<string, unknown>
  secret: string | null
}
const here = dirname(fileURLToPath(import.meta.url))
const cases = JSON.parse(readFileSync(join(here, 'fixtures/secrets.json'), 'utf8')) as Case[]

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('the secrets fixture: TypeScript and SQL give the same verdict on every case', () => {
  it('TypeScript (findSecret) names the expected path, or none', () => {
    const verdicts = cases.map((c) => [c.why, c.params, findSecret(c.params) ?? null])
    expect(verdicts).toEqual(cases.map((c) => [c.why, c.params, c.secret]))
  })

  it('SQL (ops.find_secret) names the same path, or none', async () => {
    const rows = await ctx.sql`
      select c.ord, ops.find_secret(c.value) as path
      from jsonb_array_elements(${ctx.sql.json(cases.map((c) => c.params) as never)}::jsonb) with ordinality c(value, ord)
      order by c.ord`
    const verdicts = rows.map((r, i) => [cases[i]?.why, cases[i]?.params, r.path ?? null])
    expect(verdicts).toEqual(cases.map((c) => [c.why, c.params, c.secret]))
  })

  it('the client refuses every flagged case before any I/O, and the database refuses it from a direct call', async () => {
    const session = await ctx.client.sessions.create({ name: 'fixture' })
    for (const c of cases.filter((x) => x.secret !== null)) {
      const err = await ctx.client.runs
        .enqueue({ sessionId: session.id, runs: [{ kind: 'k', params: c.params }] })
        .catch((e) => e)
      expect([c.why, isOpsError(err) && err.code]).toEqual([c.why, 'secret_in_params'])
      const sqlErr =
        await ctx.sql`select ops.enqueue_runs(${session.id}, ${ctx.sql.json([{ kind: 'k', params: c.params }] as never)}::jsonb)`.catch(
          (e) => e,
        )
      expect([c.why, (sqlErr as { code?: string }).code]).toEqual([c.why, 'OPSEC'])
    }
  })

  it('session metadata and template defaults are checked too, by both layers', async () => {
    await expect(
      ctx.client.sessions.create({ name: 'm', metadata: { 'x-api-key': 'k' } }),
    ).rejects.toMatchObject({
      code: 'secret_in_params',
      details: { path: 'metadata.x-api-key' },
    })
    const direct = await ctx.sql`select ops.create_session('m', null, '{"deploy": {"token": "t"}}')`.catch(
      (e) => e,
    )
    expect(direct).toMatchObject({ code: 'OPSEC', detail: 'metadata.deploy.token' })
    await expect(
      ctx.client.templates.create({ name: 'leaky', kind: 'k', defaultParams: { dsn: 'host=db password=x' } }),
    ).rejects.toMatchObject({ code: 'secret_in_params' })
    const tpl =
      await ctx.sql`select ops.create_template('{"name":"leaky","kind":"k","default_params":{"pwd":"x"}}')`.catch(
        (e) => e,
      )
    expect(tpl).toMatchObject({ code: 'OPSEC', detail: 'default_params.pwd' })
  })

  it('a secret reference is stored as given, for the worker to resolve', async () => {
    const session = await ctx.client.sessions.create({ name: 'refs' })
    const [run] = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'k', params: { db: { password: { $secret: 'DB_PASSWORD' } } } }],
    })
    expect(run?.params).toEqual({ db: { password: { $secret: 'DB_PASSWORD' } } })
  })

  it('a key named __proto__ is refused, not silently dropped', async () => {
    const session = await ctx.client.sessions.create({ name: 'proto' })
    const params = JSON.parse('{"a": {"__proto__": {"x": 1}}}') as Record<string, unknown>
    await expect(
      ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'k', params }] }),
    ).rejects.toMatchObject({
      code: 'validation',
      message: expect.stringMatching(/runs\[0\]\.params\.a\.__proto__/),
    })
  })

  it('SQL and TypeScript agree on generated keys and values (near misses, look-alikes, prefixes)', async () => {
    const pieces = [
      'a',
      'Z',
      '9',
      '_',
      '-',
      ' ',
      ':',
      '/',
      '@',
      '://',
      '=',
      '?',
      '&',
      '.',
      'é',
      'а',
      '\u200b',
      'ghp_',
      'github_pat_',
      'sk_live_',
      'AKIA',
      'xoxb-',
      '-----BEGIN ',
      'PRIVATE KEY',
      '-----',
      'Bearer ',
      'Basic ',
      'dXNl',
      'Aa1/',
      'eyJ',
      'glpat-',
      'hooks.slack.com/services/',
      'AIza',
      'sk-',
      'password',
      'Pass',
      'PWD',
      'token',
      'Token',
      'secret',
      'api',
      'Key',
      'access',
      'private',
      'x-amz-signature',
      'aaaaaaaaaa',
      'AAAAAAAAAA',
      '0123456789',
    ]
    const text = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(''))
    const samples = fc.sample(fc.tuple(text, text, fc.integer({ min: 1, max: 4 })), {
      numRuns: 1500,
      seed: 11,
    })
    // One key per object: TypeScript walks keys in insertion order, jsonb in its own order.
    const params = samples.flatMap(([k, v, n]) => [{ [k]: v.repeat(n) }, { plain: v }, { [k]: { [v]: k } }])
    const rows = await ctx.sql`
      select c.ord, ops.find_secret(c.value) as path
      from jsonb_array_elements(${ctx.sql.json(params as never)}::jsonb) with ordinality c(value, ord)
      order by c.ord`
    const disagreements = params
      .map((p, i) => [p, findSecret(p) ?? null, rows[i]?.path ?? null])
      .filter(([, ts, sql]) => ts !== sql)
    expect(disagreements).toEqual([])
  })
})
