import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpsClient, type OpsClient, type Run } from '@ops-control-room/core'
import { migrate, postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'

const repoMigrations = new URL('../../../supabase/migrations', import.meta.url).pathname

/** Environment for the test's own git calls: no user config. */
export const gitEnv = {
  ...process.env,
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.test',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.test',
}

/** Runs git synchronously and returns its trimmed stdout. */
export const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()

/** A bare repository in `dir`, optionally seeded with a first commit on `main`. */
export async function bareRemote(dir: string, name: string, seed = true): Promise<string> {
  const bare = join(dir, `${name}.git`)
  git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare)
  if (seed) {
    const work = join(dir, `${name}-seed`)
    git(dir, 'clone', '--quiet', bare, work)
    git(work, 'checkout', '--quiet', '-b', 'main')
    await writeFile(join(work, 'README.md'), '# fixture\n')
    git(work, 'add', 'README.md')
    git(work, 'commit', '--quiet', '-m', 'initial')
    git(work, 'push', '--quiet', 'origin', 'main')
    await rm(work, { recursive: true, force: true })
  }
  return bare
}

/** Installs a hook in a bare repository. */
export async function hook(bare: string, name: string, script: string) {
  await writeFile(join(bare, 'hooks', name), `#!/bin/sh\n${script}\n`, { mode: 0o755 })
}

/** A database, a client, a temp dir. */
export async function setup(): Promise<{
  db: TestDatabase
  client: OpsClient
  dir: string
  enqueue(params: Record<string, unknown>, spec?: Record<string, unknown>): Promise<Run>
  settled(id: string): Promise<Run>
  teardown(): Promise<void>
}> {
  const db = await createTestDatabase()
  await migrate({ databaseUrl: db.url, migrationsDir: repoMigrations })
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  const dir = await mkdtemp(join(tmpdir(), 'spec-kit-'))
  return {
    db,
    client,
    dir,
    async enqueue(params, spec = {}) {
      const session = await client.sessions.create({ name: 'spec-kit' })
      const [run] = await client.runs.enqueue({
        sessionId: session.id,
        runs: [{ kind: 'spec_kit_generate', lane: 'A', params, ...spec }],
      })
      return run as Run
    },
    async settled(id) {
      const deadline = Date.now() + 30_000
      for (;;) {
        const run = await client.runs.get(id)
        if (['succeeded', 'failed', 'cancelled'].includes(run.status)) return run
        if (Date.now() > deadline) throw new Error(`run ${id} did not finish (status ${run.status})`)
        await new Promise((r) => setTimeout(r, 25))
      }
    },
    async teardown() {
      await client.close()
      await db.drop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
