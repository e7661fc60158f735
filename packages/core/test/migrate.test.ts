import { migrate } from '@ops-control-room/core/postgres'
import { createTestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, expect, it } from 'vitest'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

it('applies every migration once when several processes migrate at once, then is a no-op', async () => {
  const seed = await createTestDatabase()
  cleanups.push(() => seed.drop())
  const admin = postgres(seed.adminUrl, { max: 1, onnotice: () => {} })
  const name = `mig_${Date.now().toString(36)}`
  await admin.unsafe(`create database "${name}"`) // empty: no compat bootstrap, no schema
  await admin.end()
  const url = new URL(seed.adminUrl)
  url.pathname = `/${name}`
  cleanups.push(async () => {
    const a = postgres(seed.adminUrl, { max: 1, onnotice: () => {} })
    await a.unsafe(`drop database if exists "${name}" with (force)`).finally(() => a.end())
  })

  const results = await Promise.all(Array.from({ length: 4 }, () => migrate({ databaseUrl: url.toString() })))
  const applied = results.flatMap((r) => r.applied.map((m) => m.version))
  expect(applied.length).toBeGreaterThanOrEqual(3)
  expect(new Set(applied).size).toBe(applied.length)
  expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1)

  const again = await migrate({ databaseUrl: url.toString() })
  expect(again.applied).toEqual([])

  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`
    expect(row?.n).toBe(applied.length)
    const roles =
      await sql`select rolname from pg_roles where rolname in ('anon', 'authenticated', 'service_role') order by 1`
    expect(roles.map((r) => r.rolname)).toEqual(['anon', 'authenticated', 'service_role'])
  } finally {
    await sql.end()
  }
})

it('rolls back a failing migration whole and says which one failed', async () => {
  const { mkdtemp, writeFile } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'ops-mig-'))
  await writeFile(join(dir, '20990101000000_good.sql'), 'create table public.good_one (id int);')
  await writeFile(
    join(dir, '20990101000001_bad.sql'),
    'create table public.half (id int);\nselect no_such_function();',
  )
  const db = await createTestDatabase()
  cleanups.push(() => db.drop())
  const err = await migrate({ databaseUrl: db.url, migrationsDir: dir }).catch((e) => e)
  expect(err.message).toMatch(/20990101000001_bad failed/)
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    const tables =
      await sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`
    expect(tables.map((t) => t.table_name)).toEqual(['good_one'])
  } finally {
    await sql.end()
  }
})
