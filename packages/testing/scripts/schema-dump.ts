/**
 * Writes docs/schema/ops.sql (the ops schema as the migrations leave it, normalised) and
 * docs/schema/functions/<name>.sql (the live definition of each function, one file each).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { startEmbeddedPostgres } from '../src/embeddedPostgres'
import { dumpOpsSchemaFiles } from '../src/schemaDump'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const migrationsDir = resolve(root, 'supabase/migrations')
const target = resolve(root, 'docs/schema/ops.sql')
const functionsDir = resolve(root, 'docs/schema/functions')
const pg = await startEmbeddedPostgres()
try {
  await migrate({ databaseUrl: pg.url, migrationsDir })
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
  try {
    const dump = await dumpOpsSchemaFiles(sql, { migrationsDir })
    mkdirSync(functionsDir, { recursive: true })
    writeFileSync(target, dump.schema)
    for (const file of readdirSync(functionsDir)) rmSync(join(functionsDir, file))
    for (const [name, text] of dump.functions) writeFileSync(join(functionsDir, `${name}.sql`), text)
    console.log(`wrote ${target} and ${dump.functions.size} files in ${functionsDir}`)
  } finally {
    await sql.end()
  }
} finally {
  await pg.stop()
}
