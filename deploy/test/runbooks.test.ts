// Every runnable block of docs/runbooks/ops-control-room/*.md, executed in order against a real
// PostgreSQL 15 with pg_cron (the runbooks' `cron.*` statements need it): `sql` blocks through psql,
// `sh` blocks through bash with DATABASE_URL set. Blocks marked `norun` need a cloud account.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PG15_BIN, type Pg15Cluster, startPg15WithCron } from './helpers'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const runbooks = join(repoRoot, 'docs/runbooks/ops-control-room')
const available =
  existsSync(`${PG15_BIN}/initdb`) &&
  existsSync('/usr/lib/postgresql/15/lib/pg_cron.so') &&
  existsSync(`${PG15_BIN}/psql`)

interface Block {
  lang: string
  run: boolean
  code: string
  line: number
}

/** The fenced code blocks of a markdown file. */
export function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)?(.*)$/.exec(lines[i] as string)
    if (!open) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !(lines[i] as string).startsWith('```'); i++) body.push(lines[i] as string)
    blocks.push({
      lang: open[1] ?? '',
      run: !/\bnorun\b/.test(open[2] ?? ''),
      code: body.join('\n'),
      line: start + 1,
    })
  }
  return blocks
}

const backupFile = `/tmp/ops-runbook-${process.pid}.dump`

const files = readdirSync(runbooks)
  .filter((f) => f.endsWith('.md'))
  .sort()

describe('the runbooks', () => {
  it('mark what cannot run here (cloud CLIs) as norun, and nothing else', () => {
    for (const file of files) {
      for (const b of codeBlocks(readFileSync(join(runbooks, file), 'utf8'))) {
        expect(['sql', 'sh'], `${file}:${b.line}`).toContain(b.lang)
        const cloud = /\b(doctl|kubectl|docker|supabase@|curl)\b/.test(b.code)
        expect(
          b.run,
          `${file}:${b.line} ${cloud ? 'uses a cloud CLI: mark it norun' : 'is marked norun but runs here'}`,
        ).toBe(!cloud)
      }
    }
  })
})

describe.skipIf(!available)('the runbooks, run against PostgreSQL 15 with pg_cron', () => {
  let cluster: Pg15Cluster
  let sql: postgres.Sql
  let databaseUrl: string
  beforeAll(async () => {
    cluster = await startPg15WithCron()
    databaseUrl = cluster.url('postgres')
    await migrate({ databaseUrl })
    sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  })
  afterAll(async () => {
    await sql?.end()
    cluster?.stop()
    rmSync(backupFile, { force: true })
  })

  const runBlock = (b: Block, where: string) => {
    const env = {
      PATH: `${PG15_BIN}:${process.env.PATH ?? ''}`,
      DATABASE_URL: databaseUrl,
      BACKUP_FILE: backupFile,
    }
    try {
      if (b.lang === 'sql') {
        return execFileSync(
          `${PG15_BIN}/psql`,
          [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-f', '-'],
          {
            input: b.code,
            env,
            encoding: 'utf8',
          },
        )
      }
      return execFileSync('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', b.code], {
        env,
        encoding: 'utf8',
        cwd: repoRoot,
      })
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string }
      throw new Error(
        `${where} failed:\n${b.code}\n--- stderr:\n${e.stderr ?? ''}\n--- stdout:\n${e.stdout ?? ''}`,
      )
    }
  }
  const runFile = (file: string) => {
    const outputs: string[] = []
    for (const b of codeBlocks(readFileSync(join(runbooks, file), 'utf8')))
      if (b.run) outputs.push(runBlock(b, `${file}:${b.line}`))
    return outputs
  }

  it('worker-deployment.md: the fleet queries run', async () => {
    // A worker row as its first heartbeat writes it (directly: the runbook only reads).
    await sql`insert into ops.workers (id, host, lanes) values ('runbook-worker', 'test', '{A}')`
    const out = runFile('worker-deployment.md').join('\n')
    expect(out).toContain('runbook-worker')
    expect(out).toContain('"live"')
  })

  it('stuck-run-recovery.md: recovers a stuck run by hand, shows and reschedules the pg_cron jobs', async () => {
    const [session] = await sql`insert into ops.sessions (name) values ('runbook') returning id`
    const [run] =
      await sql`insert into ops.runs (session_id, kind, max_attempts) values (${session?.id}, 'stuck', 3) returning id`
    await sql`update ops.runs set status = 'running', worker_id = 'dead', attempt = 1, claimed_at = now(),
      started_at = now(), heartbeat_at = now() - interval '5 minutes' where id = ${run?.id}`
    const out = runFile('stuck-run-recovery.md').join('\n')
    expect(out).toContain(String(run?.id))
    const [after] = await sql`select status from ops.runs where id = ${run?.id}`
    expect(after?.status).toBe('queued')
    const jobs = await sql`select jobname from cron.job where jobname like 'ops-%' order by jobname`
    expect(jobs.map((j) => j.jobname)).toEqual(['ops-purge-retention', 'ops-recover-stuck-runs'])
    const [setting] =
      await sql`select setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = 'postgres'`
    expect(String(setting?.setconfig)).toContain('ops.retention_days=30')
  })

  it('migration-rollback.md: backs up, undoes the schedule migration, and restores the backup', async () => {
    const [before] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`
    runFile('migration-rollback.md')
    // The restore brought back the migration record deleted by the undo step.
    const [after] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`
    expect(after?.n).toBe(before?.n)
    // …and its last step scheduled the pg_cron jobs again, which the restore cannot bring back.
    const jobs = await sql`select jobname, schedule from cron.job where jobname like 'ops-%' order by jobname`
    expect(jobs.map((j) => j.jobname)).toEqual(['ops-purge-retention', 'ops-recover-stuck-runs'])
  })

  it('incident-response.md: every diagnostic query runs', () => {
    const out = runFile('incident-response.md')
    expect(out.length).toBeGreaterThanOrEqual(6)
  })
})
