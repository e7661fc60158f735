import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { migrate } from '@ops-control-room/core/postgres'
import { createTestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, expect, it } from 'vitest'

const run = promisify(execFile)
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const supabaseBin = fileURLToPath(new URL('../node_modules/.bin/supabase', import.meta.url))
const compatSql = readFileSync(fileURLToPath(new URL('../sql/supabase-compat.sql', import.meta.url)), 'utf8')

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

it('the real Supabase CLI applies the migrations, and migrate() then finds nothing to do', async () => {
  // An empty database that looks like Supabase's (roles, auth helpers), as a hosted project does.
  const template = await createTestDatabase()
  cleanups.push(() => template.drop())
  const admin = postgres(template.adminUrl, { max: 1, onnotice: () => {} })
  const name = `cli_${Date.now().toString(36)}`
  await admin.unsafe(`create database "${name}"`)
  await admin.end()
  const url = new URL(template.adminUrl)
  url.pathname = `/${name}`
  url.hostname = 'localhost' // the CLI wants a host name, not 127.0.0.1
  url.searchParams.set('sslmode', 'disable')
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  cleanups.push(async () => {
    await sql.end()
    const a = postgres(template.adminUrl, { max: 1, onnotice: () => {} })
    await a.unsafe(`drop database if exists "${name}" with (force)`).finally(() => a.end())
  })
  await sql.unsafe(compatSql)

  const { stdout, stderr } = await run(
    supabaseBin,
    ['migration', 'up', '--db-url', url.toString(), '--workdir', repoRoot],
    {
      env: { ...process.env, DO_NOT_TRACK: '1', SUPABASE_TELEMETRY_DISABLED: '1' },
      timeout: 120_000,
    },
  )
  expect(`${stdout}${stderr}`).toMatch(/20261127000100/)

  const tables =
    await sql`select table_name from information_schema.tables where table_schema = 'ops' order by 1`
  expect(tables.map((t) => t.table_name)).toEqual(
    expect.arrayContaining(['artifacts', 'run_events', 'run_templates', 'runs', 'sessions', 'workers']),
  )
  const versions = await sql`select version from supabase_migrations.schema_migrations order by version`
  expect(versions.length).toBeGreaterThanOrEqual(3)

  // Both tools share the Supabase CLI's bookkeeping table: nothing is applied twice.
  const result = await migrate({ databaseUrl: url.toString() })
  expect(result.applied).toEqual([])
  expect(result.skipped).toBe(versions.length)
})
