/** Writes docs/schema/ops.sql: the ops schema as the migrations leave it, normalised. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { startEmbeddedPostgres } from '../src/embeddedPostgres'
import { dumpOpsSchema } from '../src/schemaDump'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const target = resolve(root, 'docs/schema/ops.sql')
const pg = await startEmbeddedPostgres()
try {
  await migrate({ databaseUrl: pg.url, migrationsDir: resolve(root, 'supabase/migrations') })
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
  try {
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, await dumpOpsSchema(sql))
    console.log(`wrote ${target}`)
  } finally {
    await sql.end()
  }
} finally {
  await pg.stop()
}
