import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ApiRole, createOpsClient, httpBackend, type OpsClient } from '@ops-control-room/core'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { SignJWT } from 'jose'
import postgres from 'postgres'
import { createServer, type OpsServer, type ServerOptions } from '../src/index'

export const JWT_SECRET = 'test-secret-with-at-least-32-characters!!'

/** A JWT for `role`, signed with `secret`, valid for `expiresIn` (a jose time span or a unix time). */
export async function tokenFor(
  role: ApiRole | string,
  options: { secret?: string; expiresIn?: string | number; sub?: string } = {},
): Promise<string> {
  return await new SignJWT({ role, ...(options.sub ? { sub: options.sub } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? JWT_SECRET))
}

/** Lets signed-in users enqueue these kinds (any other kind is service_role-only). */
export async function allowKinds(sql: postgres.Sql, kinds: readonly string[]): Promise<void> {
  for (const kind of kinds)
    await sql`select ops.set_kind_policy(${sql.json({ kind, roles: ['authenticated'] })}::jsonb)`
}

export interface TestServer {
  db: TestDatabase
  server: OpsServer
  sql: postgres.Sql
  artifactsDir: string
  tokens: Record<ApiRole, string>
  /** A client over HTTP as `role`. */
  client(role: ApiRole): OpsClient
  /** fetch against the server with a role's token (or none). */
  request(path: string, init?: RequestInit & { role?: ApiRole | null; token?: string }): Promise<Response>
  /** A digest of every row of every ops table: equal digests, unchanged database. */
  fingerprint(): Promise<string>
  teardown(): Promise<void>
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const db = await createTestDatabase()
  const artifactsDir = await mkdtemp(join(tmpdir(), 'ops-artifacts-'))
  const server = await createServer({
    databaseUrl: db.url,
    jwtSecret: JWT_SECRET,
    artifactsDir,
    port: 0,
    sweepIntervalMs: 0,
    onError: () => {},
    // Tests send bursts from one address; the limits have tests of their own (limits.test.ts).
    rateLimit: false,
    ...options,
  })
  const sql = postgres(db.url, { max: 2, onnotice: () => {} })
  const tokens = {
    anon: await tokenFor('anon'),
    authenticated: await tokenFor('authenticated', { sub: '00000000-0000-4000-8000-000000000001' }),
    service_role: await tokenFor('service_role'),
  }
  const clients: OpsClient[] = []
  return {
    db,
    server,
    sql,
    artifactsDir,
    tokens,
    client(role) {
      const c = createOpsClient({ backend: httpBackend({ url: server.url, token: tokens[role] }) })
      clients.push(c)
      return c
    },
    async request(path, init = {}) {
      const { role = 'service_role', token, ...rest } = init
      const headers = new Headers(rest.headers)
      const t = token ?? (role ? tokens[role] : undefined)
      if (t) headers.set('authorization', `Bearer ${t}`)
      if (rest.body !== undefined && !headers.has('content-type'))
        headers.set('content-type', 'application/json')
      return await fetch(`${server.url}${path}`, { ...rest, headers })
    },
    async fingerprint() {
      const [row] = await sql`
        select md5(
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.sessions t), '') ||
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.runs t), '') ||
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.run_events t), '') ||
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.artifacts t), '') ||
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.run_templates t), '') ||
          coalesce((select string_agg(t::text, '|' order by t.id) from ops.workers t), '')
        ) as digest`
      return String(row?.digest)
    },
    async teardown() {
      await Promise.all(clients.map((c) => c.close()))
      await server.close()
      await sql.end()
      await rm(artifactsDir, { recursive: true, force: true })
      await db.drop()
    },
  }
}
