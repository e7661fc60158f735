import postgres from 'postgres'
import { inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string
    pgTemplate: string
  }
}

/** A database of one's own for a test file, cloned from the migrated template. */
export interface TestDatabase {
  url: string
  name: string
  /** The cluster's superuser URL (for creating more databases, or pg_stat_activity). */
  adminUrl: string
  /** Drops the database; fails if connections to it are still open after 3 s (a leak). */
  drop(): Promise<void>
}

async function withAdmin<T>(adminUrl: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    return await fn(sql)
  } finally {
    await sql.end()
  }
}

/**
 * Creates a fresh, migrated database for the calling test file (needs the testing package's
 * globalSetup in the vitest config).
 *
 * @example
 * const db = await createTestDatabase()
 * afterAll(() => db.drop())
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl')
  const template = inject('pgTemplate')
  if (!adminUrl || !template) {
    throw new Error(
      'createTestDatabase needs globalSetup: ["../testing/src/globalSetup.ts"] in vitest.config.ts',
    )
  }
  return await createDatabaseFromTemplate(adminUrl, template)
}

export async function createDatabaseFromTemplate(adminUrl: string, template: string): Promise<TestDatabase> {
  const name = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await withAdmin(adminUrl, (sql) => sql.unsafe(`create database "${name}" template "${template}"`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    adminUrl,
    async drop() {
      await withAdmin(adminUrl, async (sql) => {
        let open = 0
        for (let i = 0; i < 30; i++) {
          const [row] = await sql`select count(*)::int as n from pg_stat_activity where datname = ${name}`
          open = row?.n ?? 0
          if (open === 0) break
          await new Promise((r) => setTimeout(r, 100))
        }
        await sql.unsafe(`drop database if exists "${name}" with (force)`)
        if (open > 0)
          throw new Error(
            `test database ${name} still had ${open} open connection(s): a client was not closed`,
          )
      })
    },
  }
}
