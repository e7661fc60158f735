import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { packageDir, setupDatabase, waitFor } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

it('stops gracefully when the shell or npm in front of it dies (SIGTERM to `npx ops-worker`)', async () => {
  // `; exit` keeps sh from exec-ing node: sh stays the parent, as under `npx`.
  const bin = resolve(packageDir, 'src/bin/opsWorker.ts')
  const sh = spawn('sh', ['-c', `"${process.execPath}" --import tsx "${bin}"; exit $?`], {
    cwd: packageDir,
    env: { ...process.env, DATABASE_URL: ctx.db.url, OPS_HANDLERS: 'shell' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: { msg?: string; workerId?: string }[] = []
  createInterface({ input: sh.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l))
    } catch {}
  })
  const ready = await waitFor('the worker to be ready', async () => lines.find((l) => l.msg === 'ready'))
  const pid = Number(/-(\d+)-[^-]+$/.exec(String(ready.workerId))?.[1])
  expect(existsSync(`/proc/${pid}`)).toBe(true)

  sh.kill('SIGTERM') // the shell dies; the worker is left with no parent of its own
  const killed = Date.now()
  await waitFor('the worker to stop', async () => lines.some((l) => l.msg === 'stopped')).catch((err) => {
    // What the worker said, with when, makes a hang diagnosable from a CI log.
    throw new Error(
      `${(err as Error).message} (${Date.now() - killed} ms); it logged:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
    )
  })
  await waitFor('the worker process to exit', async () => !existsSync(`/proc/${pid}`))
})
