import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, dumpOpsSchemaFiles } from '@ops-control-room/testing'
import postgres from 'postgres'
import { beforeAll, expect, it } from 'vitest'

const docs = (path: string) => fileURLToPath(new URL(`../../../docs/schema/${path}`, import.meta.url))
const migrationsDir = fileURLToPath(new URL('../../../supabase/migrations', import.meta.url))
let dump: Awaited<ReturnType<typeof dumpOpsSchemaFiles>>

beforeAll(async () => {
  const db = await createTestDatabase()
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    dump = await dumpOpsSchemaFiles(sql, { migrationsDir })
  } finally {
    await sql.end()
    await db.drop()
  }
})

it('docs/schema/ops.sql matches what the migrations create (run `pnpm schema:dump` after a schema change)', () => {
  expect(dump.schema).toBe(readFileSync(docs('ops.sql'), 'utf8'))
})

it('docs/schema/functions has exactly one file per function, each the live definition', () => {
  const files = readdirSync(docs('functions')).sort()
  expect(files).toEqual([...dump.functions.keys()].map((name) => `${name}.sql`).sort())
  for (const [name, text] of dump.functions)
    expect(readFileSync(docs(`functions/${name}.sql`), 'utf8')).toBe(text)
})

it('labels each function with the migration that defines it last, and that migration holds it', () => {
  for (const [name, text] of dump.functions) {
    const label = /^-- defined last in supabase\/migrations\/(\S+)$/m.exec(text)
    expect(label, name).not.toBeNull()
    const migration = readFileSync(`${migrationsDir}/${label?.[1]}`, 'utf8')
    expect(migration).toMatch(new RegExp(`function\\s+ops\\.${name}\\s*\\(`, 'i'))
  }
})
