import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createTestDatabase, freePort, type TestDatabase } from '@ops-control-room/testing'
import { SignJWT } from 'jose'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET, tokenFor } from './helpers'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db.drop())

describe('migrations of the executor', () => {
  it('publish ops.runs to supabase_realtime with full replica identity, and keep purge to service_role', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    try {
      const [pub] =
        await sql`select count(*)::int as n from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'ops' and tablename = 'runs'`
      expect(pub?.n).toBe(1)
      const [ident] = await sql`select relreplident from pg_class where oid = 'ops.runs'::regclass`
      expect(ident?.relreplident).toBe('f')
      const grants = await sql`
        select r.rolname, has_function_privilege(r.rolname, 'ops.purge_expired_artifacts(integer)', 'execute') as ok
        from pg_roles r where r.rolname in ('anon', 'authenticated', 'service_role') order by r.rolname`
      expect(grants.map((g) => [g.rolname, g.ok])).toEqual([
        ['anon', false],
        ['authenticated', false],
        ['service_role', true],
      ])
    } finally {
      await sql.end()
    }
  })
})

describe('ops-control-room serve', () => {
  it('serves until SIGTERM, then exits cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-cli-'))
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        resolve(__dirname, '../src/cli.ts'),
        'serve',
        '--port',
        String(port),
        '--artifacts-dir',
        dir,
      ],
      {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          OPS_JWT_SECRET: JWT_SECRET,
          TSX_TSCONFIG_PATH: resolve(__dirname, '../../../tsconfig.base.json'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    try {
      const until = Date.now() + 30_000
      while (!out.includes('executor API on')) {
        if (child.exitCode !== null || Date.now() > until) throw new Error(`serve did not start:\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      const response = await fetch(`http://127.0.0.1:${port}/workers`, {
        headers: { authorization: `Bearer ${await tokenFor('authenticated')}` },
      })
      expect(response.status).toBe(200)
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('serves through its own executor role, checks iss and aud, and limits requests, as its flags say', async () => {
    // A role name of this test's own: roles are per cluster, and other test files share it.
    const role = `ops_exec_cli_${Math.random().toString(36).slice(2, 8)}`
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        resolve(__dirname, '../src/cli.ts'),
        'serve',
        '--port',
        String(port),
        '--migrate',
        '--executor-role',
        role,
        '--jwt-issuer',
        'https://issuer.example',
        '--rate-limit-token',
        '3:3',
      ],
      {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          OPS_JWT_SECRET: JWT_SECRET,
          OPS_EXECUTOR_PASSWORD: 'pw with spaces & @:/ signs',
          OPS_JWT_AUDIENCE: 'ops-api',
          TSX_TSCONFIG_PATH: resolve(__dirname, '../../../tsconfig.base.json'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    try {
      const until = Date.now() + 30_000
      while (!out.includes('executor API on')) {
        if (child.exitCode !== null || Date.now() > until) throw new Error(`serve did not start:\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      const sign = (claims: Record<string, unknown>) =>
        new SignJWT({ role: 'authenticated', ...claims })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(JWT_SECRET))
      const get = async (token: string) =>
        (await fetch(`http://127.0.0.1:${port}/workers`, { headers: { authorization: `Bearer ${token}` } }))
          .status
      const good = await sign({ iss: 'https://issuer.example', aud: 'ops-api' })
      // Each token has its own bucket of 3: these two spend one each.
      expect(await get(await sign({ aud: 'ops-api' }))).toBe(401)
      expect(await get(await sign({ iss: 'https://issuer.example', aud: 'other' }))).toBe(401)
      expect([await get(good), await get(good), await get(good)]).toEqual([200, 200, 200])
      expect(await get(good)).toBe(429)
      // Every connection of the server is its executor role's, none the migrating superuser's.
      const users = await sql`
        select distinct usename from pg_stat_activity where application_name = 'ops-control-room server'`
      expect(users.map((u) => u.usename)).toEqual([role])
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      await sql.unsafe(`drop role if exists ${role}`).catch(() => {})
      await sql.end()
    }
  })

  it('explains what it needs when the database URL or secret is missing', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, '../src/cli.ts'), 'serve'], {
      env: { ...process.env, DATABASE_URL: '', OPS_JWT_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
    })
    const code = await new Promise((r) => child.once('exit', r))
    expect(code).toBe(2)
    expect(err).toMatch(/--database-url/)
  })
})

/** Runs the CLI in its own process; resolves with its exit code and output. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, '../src/cli.ts'), ...args], {
    env: { ...process.env, TSX_TSCONFIG_PATH: resolve(__dirname, '../../../tsconfig.base.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  child.stderr.on('data', (d) => {
    out += d
  })
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  return { code, out }
}

describe('ops-control-room migrate', () => {
  it('migrates an empty database, creates the executor role, and is a no-op the second time', async () => {
    const name = `ops_migrate_cli_${process.pid}`
    const admin = postgres(db.adminUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${name}`)
    const url = db.adminUrl.replace(/\/[^/?]+(\?|$)/, `/${name}$1`)
    try {
      // A role of its own: ops_executor is the cluster's, and another test file logs in with it.
      const first = await cli(['migrate', '--database-url', url, '--executor-role', 'ops_executor_cli'], {
        OPS_EXECUTOR_PASSWORD: 'a-long-executor-password',
      })
      expect(first.code, first.out).toBe(0)
      expect(first.out).toMatch(/applied \d+_create_/)
      expect(first.out).toMatch(/role ops_executor_cli ready/)
      const again = await cli(['migrate'], { DATABASE_URL: url })
      expect(again.code, again.out).toBe(0)
      expect(again.out).toMatch(/^0 applied, \d+ already there/m)
      const sql = postgres(url, { max: 1, onnotice: () => {} })
      try {
        const [row] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`
        expect(again.out).toContain(`0 applied, ${row?.n} already there`)
        const [role] =
          await sql`select rolcanlogin, rolinherit from pg_roles where rolname = 'ops_executor_cli'`
        expect(role).toEqual({ rolcanlogin: true, rolinherit: false })
      } finally {
        await sql.end()
      }
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.unsafe('drop role if exists ops_executor_cli')
      await admin.end()
    }
  })

  it('fails with the migration named and nothing of it applied, and explains a missing URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-migrate-bad-'))
    try {
      const { writeFile } = await import('node:fs/promises')
      await writeFile(join(dir, '20990101000000_good.sql'), 'create table public.migrate_cli_good (id int);')
      await writeFile(
        join(dir, '20990101000100_broken.sql'),
        'create table public.migrate_cli_bad (id int); select 1/0;',
      )
      const failed = await cli(['migrate', '--database-url', db.url, '--migrations-dir', dir])
      expect(failed.code).toBe(1)
      expect(failed.out).toMatch(/migration 20990101000100_broken failed: .*division by zero/)
      const sql = postgres(db.url, { max: 1, onnotice: () => {} })
      try {
        const tables = await sql`select relname from pg_class where relname like 'migrate_cli_%' order by 1`
        expect(tables.map((t) => t.relname)).toEqual(['migrate_cli_good'])
      } finally {
        await sql.end()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const missing = await cli(['migrate'], { DATABASE_URL: '' })
    expect(missing.code).toBe(2)
    expect(missing.out).toMatch(/--database-url/)
    const roleOnly = await cli(['migrate', '--database-url', db.url, '--executor-role', 'x'], {
      OPS_EXECUTOR_PASSWORD: '',
    })
    expect(roleOnly.code).toBe(2)
    expect(roleOnly.out).toMatch(/--executor-role needs --executor-password/)
    const typo = await cli(['migrate', '--databse-url', 'x'])
    expect(typo.code).toBe(2)
    expect(typo.out).toMatch(/databse-url/)
  })
})
