import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { migrate, postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'

const here = dirname(fileURLToPath(import.meta.url))
export const packageDir = resolve(here, '..')
const repoMigrations = resolve(here, '../../../supabase/migrations')

/** A fresh database (with every migration of the repository), a client, and raw SQL for assertions. */
export async function setupDatabase(): Promise<{
  db: TestDatabase
  client: OpsClient
  sql: postgres.Sql
  newClient(): OpsClient
  teardown(): Promise<void>
}> {
  const db = await createTestDatabase()
  // The template may have been migrated from a packaged copy of the migrations; apply any newer ones.
  await migrate({ databaseUrl: db.url, migrationsDir: repoMigrations })
  const clients: OpsClient[] = []
  const newClient = () => {
    const c = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
    clients.push(c)
    return c
  }
  const client = newClient()
  const sql = postgres(db.url, { max: 4, onnotice: () => {} })
  return {
    db,
    client,
    sql,
    newClient,
    async teardown() {
      await Promise.all(clients.map((c) => c.close()))
      await sql.end()
      await db.drop()
    },
  }
}

/** Polls `check` until it returns a truthy value (returned) or the time is up (throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as T
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A real `ops-worker` process (the package's bin, run from source with tsx). */
export interface WorkerProcess {
  child: ChildProcess
  workerId: string
  lines: Record<string, unknown>[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts the `ops-worker` bin with the given environment; resolves once it logs `ready`. */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(packageDir, 'src/bin/opsWorker.ts')], {
    cwd: packageDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  const ready = new Promise<string>((resolveReady, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>
        lines.push(parsed)
        if (parsed.msg === 'ready') resolveReady(String(parsed.workerId))
      } catch {
        lines.push({ raw: line })
      }
    })
    void exited.then(({ code, signal }) =>
      reject(new Error(`ops-worker exited (${code ?? signal}) before it was ready: ${stderr}`)),
    )
  })
  const workerId = await ready
  return { child, workerId, lines, exited }
}
