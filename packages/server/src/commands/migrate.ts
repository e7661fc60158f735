import { EXECUTOR_ROLE, migrate } from '@ops-control-room/core/postgres'
import { type CliCommand, CliUsageError, flagOrEnv } from '../cliCommand'

const usage = `ops-control-room migrate [options]

Applies the database migrations this version ships with, each in its own transaction, and records
them where the Supabase CLI does (supabase_migrations.schema_migrations): applied ones are skipped,
and several processes may run it at once. On a plain PostgreSQL it first creates the roles Supabase
has (anon, authenticated, service_role).

  --database-url <url>          PostgreSQL URL of a user that may create schemas   (env DATABASE_URL)
  --executor-password <pw>      also create or update the ${EXECUTOR_ROLE} login role, for serve
                                and the Edge Function (needs CREATEROLE)         (env OPS_EXECUTOR_PASSWORD)
  --executor-role <name>        that role's name (default ${EXECUTOR_ROLE})        (env OPS_EXECUTOR_ROLE)
  --migrations-dir <dir>        migrations to apply instead of the shipped ones
  -h, --help                    this text

Exit codes: 0 up to date, 1 a migration failed (nothing of it applied), 2 wrong arguments.`

/** `ops-control-room migrate`: the schema, without serving. */
export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'apply the database migrations (idempotent), then exit',
  usage,
  options: {
    'database-url': { type: 'string' },
    'executor-password': { type: 'string' },
    'executor-role': { type: 'string' },
    'migrations-dir': { type: 'string' },
  },
  async run(flags) {
    const databaseUrl = flagOrEnv(flags, 'database-url', 'DATABASE_URL')
    if (!databaseUrl) {
      console.error('migrate needs --database-url (or DATABASE_URL)\n')
      console.error(usage)
      return 2
    }
    const password = flagOrEnv(flags, 'executor-password', 'OPS_EXECUTOR_PASSWORD')
    const role = flagOrEnv(flags, 'executor-role', 'OPS_EXECUTOR_ROLE')
    if (role && !password) throw new CliUsageError('--executor-role needs --executor-password')
    const migrationsDir = flagOrEnv(flags, 'migrations-dir')
    const started = Date.now()
    const result = await migrate({
      databaseUrl,
      ...(migrationsDir ? { migrationsDir } : {}),
      ...(password ? { executorRole: { password, ...(role ? { name: role } : {}) } } : {}),
      onApply: (m) => console.log(`applied ${m.version}_${m.name}`),
    })
    console.log(
      `${result.applied.length} applied, ${result.skipped} already there (${Date.now() - started} ms)` +
        (password ? `; role ${role ?? EXECUTOR_ROLE} ready` : ''),
    )
    return 0
  },
}
