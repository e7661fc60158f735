import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { ValidationError } from '../errors'
import { pgArray } from './pgArray'
import { toOpsError } from './pgErrors'

export interface MigrateOptions {
  databaseUrl: string
  /** Where the migration files are; defaults to the ones shipped with this package. */
  migrationsDir?: string
  /**
   * Make a plain PostgreSQL look like Supabase's (API roles, `auth.uid()`, the realtime publication)
   * before migrating. 'auto' (default) does so only when the `anon` role is missing, so a real
   * Supabase database is never touched.
   */
  supabaseCompat?: 'auto' | boolean
  /** Called with each migration applied, for progress output. */
  onApply?: (migration: { version: string; name: string }) => void
  /**
   * Create (or update) the executor's own login role: it can log in and `SET ROLE` to anon,
   * authenticated and service_role, and holds no privilege of its own (NOINHERIT), so a request that
   * tried `set_config('role', 'postgres')` is refused. Connect the server (`serve`) or the Edge
   * Function with it instead of a superuser. Needs a migrating user with CREATEROLE.
   */
  executorRole?: { name?: string; password: string }
}

/** The default name of the executor's login role. */
export const EXECUTOR_ROLE = 'ops_executor'

/**
 * `databaseUrl` with its user and password replaced by the executor role's: the URL the server (or
 * the Edge Function) connects with, once `migrate({ executorRole })` has created the role.
 * @throws ValidationError when the password is empty, the name is not a plain identifier, or the URL
 * has no host to log in to.
 */
export function executorDatabaseUrl(databaseUrl: string, role: { name?: string; password: string }): string {
  const name = role.name ?? EXECUTOR_ROLE
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new ValidationError(
      `executor role name ${JSON.stringify(name)} must be a plain lower-case identifier`,
    )
  }
  if (typeof role.password !== 'string' || role.password === '') {
    throw new ValidationError('the executor role needs a non-empty password')
  }
  let url: URL
  try {
    url = new URL(databaseUrl)
  } catch (err) {
    throw new ValidationError('the database URL is not a URL', { cause: err })
  }
  if (!/^postgres(ql)?:$/.test(url.protocol) || url.hostname === '') {
    throw new ValidationError(
      'the database URL must be postgres://…@host/…: the executor role logs in over TCP with a password',
    )
  }
  url.username = encodeURIComponent(name)
  url.password = encodeURIComponent(role.password)
  return url.toString()
}

export interface MigrateResult {
  applied: { version: string; name: string }[]
  skipped: number
}

const here = dirname(fileURLToPath(import.meta.url))

function findDir(candidates: string[], what: string): string {
  for (const c of candidates) if (existsSync(c)) return c
  throw new Error(`could not find the ${what}; looked in ${candidates.join(', ')}`)
}

/** The folder of migration files shipped with the package (or the repository's supabase/migrations). */
export function defaultMigrationsDir(): string {
  // Run from source (tests, the repository's scripts), the repository's own folder is the truth; a
  // built package (dist/) ships its copy in migrations/ beside dist/.
  const fromSource = basename(here) === 'postgres' && basename(dirname(here)) === 'src'
  return findDir(
    fromSource ? [resolve(here, '../../../../supabase/migrations')] : [resolve(here, '../migrations')],
    'migrations folder',
  )
}

function compatSqlPath(): string {
  return join(
    findDir([resolve(here, '../sql'), resolve(here, '../../sql')], 'sql folder'),
    'supabase-compat.sql',
  )
}

interface MigrationFile {
  version: string
  name: string
  path: string
}

function listMigrations(dir: string): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const m = /^(\d+)_(.+)\.sql$/.exec(f)
      if (!m) throw new ValidationError(`migration file ${f} is not named <timestamp>_<name>.sql`)
      return { version: m[1] as string, name: m[2] as string, path: join(dir, f) }
    })
}

/**
 * Applies the Supabase migrations to any PostgreSQL ≥ 15. Applied versions are recorded in
 * `supabase_migrations.schema_migrations`, the table the Supabase CLI uses, so `supabase db push` and
 * `migrate()` agree on what is applied. Safe when several processes run it at once (an advisory
 * lock serialises them); a no-op when up to date. Each migration runs in its own transaction.
 *
 * @example
 * await migrate({ databaseUrl: process.env.DATABASE_URL! })
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const files = listMigrations(options.migrationsDir ?? defaultMigrationsDir())
  const sql = postgres(options.databaseUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'ops-control-room migrate' },
  })
  const applied: MigrateResult['applied'] = []
  try {
    await sql`select pg_advisory_lock(hashtext('ops-control-room:migrate'))`
    const compat = options.supabaseCompat ?? 'auto'
    if (
      compat === true ||
      (compat === 'auto' && (await sql`select 1 from pg_roles where rolname = 'anon'`).length === 0)
    ) {
      await sql.unsafe(readFileSync(compatSqlPath(), 'utf8'))
    }
    await sql.unsafe(`
      create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
    `)
    const done = new Set(
      (await sql`select version from supabase_migrations.schema_migrations`).map((r) => String(r.version)),
    )
    for (const file of files) {
      if (done.has(file.version)) continue
      const text = readFileSync(file.path, 'utf8')
      await sql.unsafe('begin')
      try {
        await sql.unsafe(text)
        await sql`insert into supabase_migrations.schema_migrations (version, statements, name) values (${file.version}, ${pgArray([text])}::text[], ${file.name})`
        await sql.unsafe('commit')
      } catch (err) {
        await sql.unsafe('rollback').catch(() => {})
        const e = toOpsError(err)
        e.message = `migration ${file.version}_${file.name} failed: ${e.message}`
        throw e
      }
      applied.push({ version: file.version, name: file.name })
      options.onApply?.({ version: file.version, name: file.name })
    }
    if (options.executorRole) {
      const name = options.executorRole.name ?? EXECUTOR_ROLE
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
        throw new ValidationError(
          `executor role name ${JSON.stringify(name)} must be a plain lower-case identifier`,
        )
      }
      const exists = (await sql`select 1 from pg_roles where rolname = ${name}`).length > 0
      // Identifiers cannot be parameters; the name was checked above and the password is quoted by
      // the server (format %L).
      const [row] =
        await sql`select format(${`${exists ? 'alter' : 'create'} role ${name} with login noinherit nosuperuser nocreatedb nocreaterole password %L`}, ${options.executorRole.password}::text) as ddl`
      await sql.unsafe(String(row?.ddl))
      await sql.unsafe(`grant anon, authenticated, service_role to ${name}`)
    }
    return { applied, skipped: files.length - applied.length }
  } catch (err) {
    throw toOpsError(err)
  } finally {
    await sql.end({ timeout: 5 })
  }
}
