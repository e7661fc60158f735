// ctx.workspace, ctx.secrets, a cancel reaching ctx.artifacts.put, and handler factories in OPS_HANDLERS.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Run } from '@ops-control-room/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createWorker,
  defineHandler,
  filesystemArtifactStore,
  loadHandlers,
  type Worker,
  type WorkerOptions,
} from '../src/index'
import { setupDatabase, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
let dir: string
beforeAll(async () => {
  ctx = await setupDatabase()
  dir = await mkdtemp(join(tmpdir(), 'ops-run-api-'))
})
const workers: Worker[] = []
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeoutMs: 0 })))
  await ctx.teardown()
  await rm(dir, { recursive: true, force: true })
})

async function startWorker(options: Omit<WorkerOptions, 'client'>): Promise<Worker> {
  const worker = createWorker({
    client: ctx.client,
    heartbeatIntervalMs: 300,
    pollIntervalMs: 100,
    ...options,
  })
  workers.push(worker)
  await worker.start()
  return worker
}

async function enqueue(kind: string, params: Record<string, unknown> = {}): Promise<Run> {
  const session = await ctx.client.sessions.create({ name: kind })
  const [run] = await ctx.client.runs.enqueue({ sessionId: session.id, runs: [{ kind, lane: 'A', params }] })
  return run as Run
}

const settled = (id: string) =>
  waitFor(`run ${id} to finish`, async () => {
    const run = await ctx.client.runs.get(id)
    return ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : undefined
  })

describe('run API for every handler', () => {
  it('gives each run a workspace of its own and removes it once the run is over', async () => {
    const root = join(dir, 'workspaces')
    const seen: string[] = []
    const h = defineHandler({
      kind: 'uses_workspace',
      input: z.object({}),
      async run(c) {
        seen.push(c.workspace)
        expect(c.workspace).toBe(c.workspace)
        await writeFile(join(c.workspace, 'file.txt'), 'x')
        return { ok: true }
      },
    })
    const worker = await startWorker({ handlers: [h], workspaceRoot: root })
    const a = await enqueue('uses_workspace')
    const b = await enqueue('uses_workspace')
    expect((await settled(a.id)).status).toBe('succeeded')
    expect((await settled(b.id)).status).toBe('succeeded')
    expect(new Set(seen).size).toBe(2)
    for (const s of seen) expect(s.startsWith(root)).toBe(true)
    await waitFor('workspaces removed', async () => (await readdir(root)).length === 0)
    await worker.stop()
  })

  it('keeps workspaces when asked, and creates none for a handler that never reads ctx.workspace', async () => {
    const root = join(dir, 'kept')
    const h = defineHandler({
      kind: 'keeps_workspace',
      input: z.object({ touch: z.boolean() }),
      run: (c) => (c.params.touch ? c.workspace : null),
    })
    const worker = await startWorker({ handlers: [h], workspaceRoot: root, keepWorkspaces: true })
    const none = await enqueue('keeps_workspace', { touch: false })
    expect((await settled(none.id)).status).toBe('succeeded')
    expect(existsSync(root)).toBe(false)
    const one = await enqueue('keeps_workspace', { touch: true })
    const run = await settled(one.id)
    expect(existsSync(run.result as string)).toBe(true)
    await worker.stop()
  })

  it('resolves secret references on the worker, from OPS_SECRET_<NAME> only', async () => {
    process.env.OPS_SECRET_RUN_API_TOKEN = 's3cr3t-value'
    process.env.RUN_API_PLAIN = 'not reachable'
    const h = defineHandler({
      kind: 'reads_secret',
      input: z.object({ token: z.object({ $secret: z.string() }) }),
      run: (c) => ({
        length: c.secrets.resolve(c.params.token).length,
        plain: c.secrets.get('RUN_API_PLAIN') ?? null,
      }),
    })
    const worker = await startWorker({ handlers: [h] })
    const ok = await settled((await enqueue('reads_secret', { token: { $secret: 'RUN_API_TOKEN' } })).id)
    expect(ok.result).toEqual({ length: 's3cr3t-value'.length, plain: null })
    const missing = await settled((await enqueue('reads_secret', { token: { $secret: 'NOPE' } })).id)
    expect(missing.status).toBe('failed')
    expect(missing.error?.message).toContain('no secret NOPE')
    await worker.stop()
  })

  it('takes secrets from WorkerOptions.secrets when given', async () => {
    const h = defineHandler({
      kind: 'map_secret',
      input: z.object({}),
      run: (c) => c.secrets.get('A') ?? null,
    })
    const worker = await startWorker({ handlers: [h], secrets: { A: 'from-map' } })
    expect((await settled((await enqueue('map_secret')).id)).result).toBe('from-map')
    await worker.stop()
  })

  it('lists the artifacts earlier attempts of the run stored (ctx.artifacts.list)', async () => {
    const seen: string[][] = []
    const h = defineHandler({
      kind: 'lists_artifacts',
      input: z.object({}),
      async run(c) {
        seen.push((await c.artifacts.list()).map((a) => a.name))
        await c.artifacts.text({ name: `attempt-${c.run.attempt}`, text: 'x' })
        if (c.run.attempt === 1) throw new Error('fail the first attempt')
        return null
      },
    })
    const worker = await startWorker({ handlers: [h] })
    const session = await ctx.client.sessions.create({ name: 'list' })
    const [run] = await ctx.client.runs.enqueue({
      sessionId: session.id,
      runs: [{ kind: 'lists_artifacts', lane: 'A', maxAttempts: 2 }],
    })
    expect((await settled((run as Run).id)).status).toBe('succeeded')
    expect(seen).toEqual([[], ['attempt-1']])
    await worker.stop()
  })

  it('aborts ctx.artifacts.put when the run is cancelled mid-stream, and records no artifact', async () => {
    let putError: Error | undefined
    let streaming!: () => void
    const started = new Promise<void>((r) => {
      streaming = r
    })
    const h = defineHandler({
      kind: 'slow_artifact',
      input: z.object({}),
      async run(c) {
        // A body that never ends on its own: only the signal can stop the store reading it.
        const body = new ReadableStream<Uint8Array>({
          pull: async (controller) => {
            streaming()
            await new Promise((r) => setTimeout(r, 20))
            controller.enqueue(new Uint8Array(1024))
          },
        })
        try {
          await c.artifacts.put({ name: 'endless.bin', body })
        } catch (err) {
          putError = err as Error
          throw err
        }
        return 'unreachable'
      },
    })
    const store = join(dir, 'store')
    const worker = await startWorker({
      handlers: [h],
      artifactStore: filesystemArtifactStore({ root: store }),
    })
    const run = await enqueue('slow_artifact')
    await started
    await ctx.client.runs.cancel(run.id)
    expect((await settled(run.id)).status).toBe('cancelled')
    expect(await ctx.client.artifacts.list({ runId: run.id })).toEqual([])
    // The store stopped reading at the cancel, rather than the handler being abandoned mid-stream.
    await waitFor('put to reject', () => putError)
    expect(putError?.name).toBe('CancelledError')
    await worker.stop()
  })
})

describe('loadHandlers', () => {
  it('calls a factory named in the list with its options and the environment', async () => {
    const mod = join(dir, 'factory.mjs')
    await writeFile(
      mod,
      `export function makeEcho(options, { env }) {
        return { kind: 'echo_' + options.suffix, input: { safeParse: (v) => ({ success: true, data: v }) }, run: () => env.LOAD_TEST }
      }`,
    )
    const handlers = await loadHandlers(`shell, ./factory.mjs#makeEcho`, {
      cwd: dir,
      options: { './factory.mjs#makeEcho': { suffix: 'x' } },
      env: { LOAD_TEST: 'yes' },
    })
    expect(handlers.map((h) => h.kind)).toEqual(['shell', 'echo_x'])
  })

  it('loads a package by name from cwd, through the CommonJS build its exports map resolves to', async () => {
    const pkg = join(dir, 'node_modules', '@acme', 'handlers')
    await mkdir(pkg, { recursive: true })
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({
        name: '@acme/handlers',
        exports: { '.': { import: './index.mjs', require: './index.cjs' } },
      }),
    )
    const body = `(options, { env }) => ({ kind: 'acme_' + (options.n ?? env.ACME_N), input: { safeParse: (v) => ({ success: true, data: v }) }, run: () => 1 })`
    await writeFile(
      join(pkg, 'index.cjs'),
      `const f = ${body}; module.exports = { default: f, acmeHandler: f }`,
    )
    await writeFile(
      join(pkg, 'index.mjs'),
      `const f = ${body}; export default f; export const acmeHandler = f`,
    )
    const byDefault = await loadHandlers('@acme/handlers', { cwd: dir, env: { ACME_N: 'env' } })
    expect(byDefault.map((h) => h.kind)).toEqual(['acme_env'])
    const named = await loadHandlers('@acme/handlers#acmeHandler', {
      cwd: dir,
      options: { '@acme/handlers#acmeHandler': { n: 'opt' } },
    })
    expect(named.map((h) => h.kind)).toEqual(['acme_opt'])
  })

  it('refuses an entry that exports no handler, with a ValidationError', async () => {
    await writeFile(join(dir, 'empty.mjs'), 'export const nothing = 1')
    await expect(loadHandlers('./empty.mjs', { cwd: dir })).rejects.toMatchObject({ code: 'validation' })
    await expect(loadHandlers('./missing.mjs', { cwd: dir })).rejects.toMatchObject({ code: 'validation' })
  })
})
