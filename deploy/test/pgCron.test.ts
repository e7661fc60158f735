// The pg_cron migration on Debian's PostgreSQL 15 with postgresql-15-cron (scripts/ci-apt-packages.txt):
// it schedules stuck-run recovery and retention where pg_cron is preloaded, and recovery then
// happens with no worker alive. Elsewhere (the embedded PostgreSQL of every other test) the same
// migration is a no-op.
import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, waitFor } from './helpers'

const BIN = '/usr/lib/postgresql/15/bin'
const available = existsSync(`${BIN}/initdb`) && existsSync('/usr/lib/postgresql/15/lib/pg_cron.so')

describe.skipIf(!available)('pg_cron on PostgreSQL 15', () => {
  let dir: string
  let port: number
  const asPostgres = (args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', ...args])
      : execFileSync(args[0] as string, args.slice(1))
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ops-pgcron-'))
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
      chownSync(dir, uid, gid)
    }
    port = await freePort()
    asPostgres([`${BIN}/initdb`, '-D', `${dir}/data`, '-U', 'postgres', '--auth=trust'])
    asPostgres([
      `${BIN}/pg_ctl`,
      '-D',
      `${dir}/data`,
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on -c max_worker_processes=20`,
      '-l',
      `${dir}/log`,
      '-w',
      'start',
    ])
  })
  afterAll(() => {
    if (!dir) return
    try {
      asPostgres([`${BIN}/pg_ctl`, '-D', `${dir}/data`, '-m', 'fast', 'stop'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('schedules recovery and retention, and recovers a stuck run with no worker alive', async () => {
    await migrate({ databaseUrl: url('postgres') })
    const sql = postgres(url('postgres'), { max: 2, onnotice: () => {} })
    try {
      const jobs = await sql`select jobname, schedule, command from cron.job order by jobname`
      expect(jobs.map((j) => j.jobname)).toEqual(['ops-purge-retention', 'ops-recover-stuck-runs'])
      expect(jobs[0]).toMatchObject({ schedule: '17 3 * * *', command: 'select ops.purge_retention()' })
      expect(jobs[1]?.command).toContain('ops.recover_stuck_runs')
      // The purge job's command runs as it stands.
      expect((await sql.unsafe(jobs[0]?.command as string))[0]?.purge_retention).toEqual({
        runs: 0,
        workers: 0,
      })

      // A run whose worker died two minutes ago: pg_cron takes it back within its schedule.
      const [session] = await sql`select * from ops.create_session('cron', null, '{}'::jsonb)`
      // Written directly (as the superuser), so the test does not depend on the claim functions' shape.
      await sql`insert into ops.runs (session_id, kind, max_attempts) values (${session?.id}, 'stuck', 2)`
      await sql`update ops.runs set status = 'running', worker_id = 'dead-worker', attempt = 1, claimed_at = now(),
        started_at = now(), heartbeat_at = now() where kind = 'stuck'`
      await sql`update ops.runs set heartbeat_at = now() - interval '2 minutes' where kind = 'stuck'`
      const [before] = await sql`select status from ops.runs where kind = 'stuck'`
      expect(before?.status).toBe('running')
      await waitFor(
        'pg_cron to recover the stuck run',
        async () => {
          const [row] = await sql`select status from ops.runs where kind = 'stuck'`
          return row?.status === 'queued'
        },
        150_000,
        500,
      )
      const [event] =
        await sql`select data from ops.run_events e join ops.runs r on r.id = e.run_id where r.kind = 'stuck' and e.type = 'run:recovered'`
      expect(event?.data).toMatchObject({ worker_id: 'dead-worker', outcome: 'queued' })
    } finally {
      await sql.end()
    }
  })

  it('is a no-op in a database where pg_cron cannot be installed', async () => {
    const admin = postgres(url('postgres'), { max: 1, onnotice: () => {} })
    await admin`create database other`
    await admin.end()
    const notices: string[] = []
    await migrate({ databaseUrl: url('other') })
    const sql = postgres(url('other'), { max: 1, onnotice: (n) => notices.push(String(n.message)) })
    try {
      const [row] = await sql`select count(*)::int as n from pg_extension where extname = 'pg_cron'`
      expect(row?.n).toBe(0)
      const [fn] =
        await sql`select to_regprocedure('ops.purge_retention(integer, integer)') is not null as ok`
      expect(fn?.ok).toBe(true)
    } finally {
      await sql.end()
    }
  })
})
