import { createOpsClient, httpBackend, ValidationError } from '@ops-control-room/core'
import { EXECUTOR_ROLE, executorDatabaseUrl, migrate } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type OpsServer } from '../src/index'
import { JWT_SECRET, tokenFor } from './helpers'

let db: TestDatabase
let executorUrl: string
const password = `pw-${crypto.randomUUID()}`
beforeAll(async () => {
  db = await createTestDatabase()
  // The database is migrated already (from the template); this run only creates the role.
  await migrate({ databaseUrl: db.url, executorRole: { password } })
  const u = new URL(db.url)
  u.username = EXECUTOR_ROLE
  u.password = password
  executorUrl = u.toString()
})
afterAll(async () => {
  await db.drop()
})

describe('the executor’s dedicated login role', () => {
  it('holds no privilege itself and can become only anon, authenticated or service_role', async () => {
    const sql = postgres(executorUrl, { max: 1, onnotice: () => {} })
    try {
      const code = (p: Promise<unknown>) =>
        p.then(
          () => 'ok',
          (e) => (e as { code?: string }).code,
        )
      expect((await sql`select current_user as u`)[0]?.u).toBe(EXECUTOR_ROLE)
      expect(await code(sql`select count(*) from ops.runs`)).toBe('42501')
      // What an injected set_config would try: refused, it is no member of postgres.
      expect(await code(sql.begin((tx) => tx`select set_config('role', 'postgres', true)`))).toBe('42501')
      for (const role of ['anon', 'authenticated', 'service_role']) {
        expect(await code(sql.begin((tx) => tx`select set_config('role', ${role}, true)`))).toBe('ok')
      }
    } finally {
      await sql.end()
    }
  })

  it('is enough to run the server: every API role works through it', async () => {
    let server: OpsServer | undefined
    try {
      server = await createServer({
        databaseUrl: executorUrl,
        jwtSecret: JWT_SECRET,
        port: 0,
        sweepIntervalMs: 0,
        rateLimit: false,
      })
      const service = createOpsClient({
        backend: httpBackend({ url: server.url, token: await tokenFor('service_role') }),
      })
      const session = await service.sessions.create({ name: 'via ops_executor' })
      const [run] = await service.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'k' }] })
      const [claimed] = await service.worker.claim({ workerId: 'w', lanes: { A: 1 } })
      expect(claimed?.id).toBe(run?.id)
      expect(await server.purgeExpiredArtifacts()).toBe(0)
      await service.close()
    } finally {
      await server?.close()
    }
  })
})

describe('the executor role’s URL', () => {
  it('is the database URL with the role as user, the password encoded', () => {
    const url = executorDatabaseUrl('postgres://owner:secret@db.internal:5432/app?sslmode=require', {
      password: 'p@ss:w/rd',
    })
    const u = new URL(url)
    expect([u.username, decodeURIComponent(u.password), u.host, u.pathname, u.search]).toEqual([
      EXECUTOR_ROLE,
      'p@ss:w/rd',
      'db.internal:5432',
      '/app',
      '?sslmode=require',
    ])
  })

  it('refuses an empty password, a role name that is not an identifier and a URL without a host', async () => {
    for (const [url, role] of [
      ['postgres://o@h/db', { password: '' }],
      ['postgres://o@h/db', { name: 'Ops"x', password: 'p' }],
      ['postgres:///db?host=/var/run/postgresql', { password: 'p' }],
      ['not a url', { password: 'p' }],
    ] as const) {
      expect(() => executorDatabaseUrl(url, role)).toThrow(ValidationError)
    }
    // createServer checks it before migrating or connecting.
    await expect(
      createServer({
        databaseUrl: db.url,
        jwtSecret: JWT_SECRET,
        migrate: true,
        executorRole: { password: '' },
      }),
    ).rejects.toBeInstanceOf(ValidationError)
  })
})
