// The pg_cron migration on Debian's PostgreSQL 15 with postgresql-15-cron (scripts/ci-apt-packages.txt):
// it schedules stuck-run recovery and retention where pg_cron is preloaded, and recovery then
// happens with no worker alive. Elsewhere (the embedded PostgreSQL of every other test) the same
// migration is a no-op.
import { existsSync } from 'node:fs'
import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PG15_BIN, type Pg15Cluster, startPg15WithCron, waitFor } from './helpers'

const available = existsSync(`${PG15_BIN}/initdb`) && existsSync('/usr/lib/postgresql/15/lib/pg_cron.so')

describe.skipIf(!available)('pg_cron on PostgreSQL 15', () => {
  let cluster: Pg15Cluster
  const url = (db: string) => cluster.url(db)
  beforeAll(async () => {
    cluster = await startPg15WithCron()
  })
  afterAll(() => cluster?.stop())

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
