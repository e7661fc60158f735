/**
 * The Runboard's SQL at 100,000 runs in one session (BENCH_RUNBOARD_RUNS): `ops.lane_history` (queue
 * depth and throughput history) in its cases — every run queued and enqueued in a few statements, half
 * drained in claim/complete batches, every run with its own creation time (the worst case: no two
 * runs share a bucket pattern) — and the bulk actions over a filter (`ops.cancel_matching`,
 * `ops.retry_matching` of 10,000 runs in one transaction, rolled back). Median of 5, ms.
 *
 * `pnpm bench runboardSql`
 */
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')

// Workspace packages resolve to their source (as in tests): re-run with the workspace's paths.
if (!process.env.TSX_TSCONFIG_PATH) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, TSX_TSCONFIG_PATH: resolve(repo, 'tsconfig.base.json') },
  })
  process.exit(result.status ?? 1)
}

const RUNS = Number(process.env.BENCH_RUNBOARD_RUNS ?? 100_000)
const { migrate } = await import('@ops-control-room/core/postgres')
const { startEmbeddedPostgres } = await import('@ops-control-room/testing')
const postgres = (await import('postgres')).default

const db = await startEmbeddedPostgres()
await migrate({ databaseUrl: db.url })
const sql = postgres(db.url, { max: 1, onnotice: () => {} })
const rows: { case: string; ms: number }[] = []
const time = async (name: string, q: () => Promise<unknown>) => {
  const ms: number[] = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    await q()
    ms.push(performance.now() - t)
  }
  rows.push({ case: name, ms: Math.round((ms.sort((a, b) => a - b)[2] as number) * 10) / 10 })
}
const rolledBack = (q: (tx: postgres.TransactionSql) => Promise<unknown>) => () =>
  sql
    .begin(async (tx) => {
      await q(tx)
      throw new Error('rollback')
    })
    .catch((err: Error) => {
      if (err.message !== 'rollback') throw err
    })
try {
  const [s] = await sql`select id from ops.create_session('runboard sql')`
  const session = String(s?.id)
  for (let done = 0; done < RUNS; done += 10_000)
    await sql`select count(*) from ops.enqueue_runs(${session}, (select jsonb_agg(jsonb_build_object(
      'kind', 'scale', 'lane', (array['A','B','C','D'])[1 + g % 4])) from generate_series(1, ${Math.min(10_000, RUNS - done)}) g))`
  await sql`vacuum analyze ops.runs`
  const history = (w: number, b: number) => () => sql`select ops.lane_history(${session}::uuid, ${w}, ${b})`
  await time(`lane_history 15 min/180, ${RUNS} queued (enqueued in batches of 10,000)`, history(900, 180))
  await time(
    'cancel_matching of 10,000 (one transaction, rolled back)',
    rolledBack(
      (tx) => tx`select ops.cancel_matching(${tx.json({ sessionId: session })}::jsonb, 'bench', 10000)`,
    ),
  )
  for (let i = 0; i < RUNS / 2 / 1000; i++) {
    await sql`select count(*) from ops.claim_runs('bench', array['A','B','C','D']::ops.lane_type[], array[250,250,250,250], null)`
    await sql`update ops.runs set status = case when seq % 10 = 0 then 'failed'::ops.run_status else 'succeeded' end,
      error = case when seq % 10 = 0 then '{"type":"E","message":"x"}'::jsonb end,
      finished_at = now(), heartbeat_at = null where status = 'running'`
  }
  await sql`vacuum analyze ops.runs`
  await time('lane_history 15 min/180, half drained in batches of 1,000', history(900, 180))
  await time(
    'retry_matching of 10,000 (one transaction, rolled back)',
    rolledBack(
      (tx) =>
        tx`select ops.retry_matching(${tx.json({ sessionId: session, status: 'failed' })}::jsonb, 10000)`,
    ),
  )
  await sql`update ops.runs set created_at = now() - random() * interval '600 s' where session_id = ${session}`
  await sql`vacuum analyze ops.runs`
  await time('lane_history 15 min/180, every run its own created_at', history(900, 180))
  await time('lane_history 24 h/240, every run its own created_at', history(86_400, 240))
  await time('session_stats (for scale)', () => sql`select ops.session_stats(${session}::uuid, 300, 0)`)
} finally {
  await sql.end()
  await db.stop()
}
const load = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')
console.log(`\nRunboard SQL at ${RUNS} runs in one session (median of 5, ms; load average ${load})`)
console.table(rows)
console.log(`BENCH_JSON ${JSON.stringify({ suite: 'runboardSql', runs: RUNS, load, rows })}`)
