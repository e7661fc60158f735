import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, dumpOpsSchema } from '@ops-control-room/testing'
import postgres from 'postgres'
import { expect, it } from 'vitest'

it('docs/schema/ops.sql matches what the migrations create (run `pnpm schema:dump` after a schema change)', async () => {
  const db = await createTestDatabase()
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    const committed = readFileSync(
      fileURLToPath(new URL('../../../docs/schema/ops.sql', import.meta.url)),
      'utf8',
    )
    expect(await dumpOpsSchema(sql)).toBe(committed)
  } finally {
    await sql.end()
    await db.drop()
  }
})
