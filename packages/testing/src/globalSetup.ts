import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from './embeddedPostgres'

export const TEMPLATE_DATABASE = 'ops_template'

/**
 * Vitest global setup: one PostgreSQL for the whole run (embedded, or the server at
 * OPS_TEST_DATABASE_URL), with a migrated template database that each test file clones.
 */
export default async function setup(project: TestProject) {
  const external = process.env.OPS_TEST_DATABASE_URL
  const pg = external ? undefined : await startEmbeddedPostgres()
  const adminUrl = external ?? (pg as NonNullable<typeof pg>).url
  const template = `${TEMPLATE_DATABASE}_${process.pid}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`drop database if exists "${template}" with (force)`)
    await admin.unsafe(`create database "${template}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${template}`
  await migrate({ databaseUrl: url.toString() })
  project.provide('pgAdminUrl', adminUrl)
  project.provide('pgTemplate', template)
  return async () => {
    if (pg) {
      await pg.stop()
    } else {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} })
      await a.unsafe(`drop database if exists "${template}" with (force)`).finally(() => a.end())
    }
  }
}
