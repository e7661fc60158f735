import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'

/** A fresh database, a client over it, and a raw SQL connection for assertions. */
export async function setupDatabase(): Promise<{
  db: TestDatabase
  client: OpsClient
  sql: postgres.Sql
  teardown: () => Promise<void>
}> {
  const db = await createTestDatabase()
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  const sql = postgres(db.url, { max: 4, onnotice: () => {} })
  return {
    db,
    client,
    sql,
    async teardown() {
      await client.close()
      await sql.end()
      await db.drop()
    },
  }
}
