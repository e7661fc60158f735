/**
 * SQL benchmark: CPU instructions PostgreSQL spends on the hot-path functions, counted by valgrind's
 * callgrind on a single-user backend. Unlike wall-clock figures (±15 % from run to run on a shared
 * 2-core machine), the counts repeat to within a fraction of a percent, so a change to a migration
 * can be judged by one run of this suite.
 *
 * Each case runs its statements N1 and N2 times from identical copies of one seeded cluster (100,000
 * queued runs); the cost of one cycle is the difference divided by N2 − N1, so start-up and shutdown
 * cancel out. BENCH_SQL_ONLY=text picks the cases whose name contains it; BENCH_MIGRATIONS_BEFORE=<timestamp>
 * seeds without the migrations from that one on, for a before/after pair. Needs valgrind (Debian's `valgrind`); without it the suite says so and skips.
 */
import { spawnSync } from 'node:child_process'
import { chmod, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const repo = resolve(import.meta.dirname, '../..')
const SESSION = '00000000-0000-0000-0000-0000000000b1'

// A claim keeps what it took in a session setting and the completion reads it back: the same small
// cost in every version. (It used to read the held runs back from ops.runs by status and worker,
// which needed an index that migration 20261130010600 dropped.)
const held = (n: number, kinds = '') =>
  `select pg_catalog.set_config('bench.held', coalesce((select jsonb_agg(jsonb_build_object('id', c.id, 'lease', c.lease, 'result', null)) from ops.claim_runs('w', '{A}', '{${n}}'${kinds}) c), '[]')::text, false);`
const complete = `select count(*) from ops.complete_runs('w', current_setting('bench.held')::jsonb);`
const claim = (n: number) => held(n)

const claimKindAny = (n: number) => `select count(*) from ops.claim_runs('w', '{A}', '{${n}}', '{noop}');`
const claimKind = (n: number) => held(n, `, '{spec}'`)

const allCases: { name: string; statements: string[]; n1: number; n2: number }[] = [
  { name: 'claim + complete, 1 run', statements: [claim(1), complete], n1: 5, n2: 25 },
  // The pickup of a single enqueue: one claim of one run of the worker's kind.
  { name: 'claim alone, 1 run, kinds given', statements: [claimKindAny(1)], n1: 5, n2: 25 },
  { name: 'claim + complete, 10 runs', statements: [claim(10), complete], n1: 5, n2: 25 },
  { name: 'claim + complete, 100 runs', statements: [claim(100), complete], n1: 3, n2: 13 },
  {
    name: 'enqueue 1 run',
    statements: [
      `select count(*) from ops.enqueue_runs('${SESSION}', '[{"kind":"noop","lane":"A"}]'::jsonb);`,
    ],
    n1: 5,
    n2: 25,
  },
  // Workers pass the kinds they serve: the same claim as above, through the kinds branch.
  {
    name: 'claim + complete, 10 runs, kinds given',
    statements: [held(10, `, '{noop}'`), complete],
    n1: 5,
    n2: 25,
  },
  // A worker serving one kind behind 100,000 queued runs of another kind (issue 15).
  {
    name: 'claim + complete, 1 run of a kind behind 100,000 others',
    statements: [claimKind(1), complete],
    n1: 2,
    n2: 6,
  },
]
// BENCH_SQL_ONLY=text runs only the cases whose name contains it.
const cases = allCases.filter(
  (c) => !process.env.BENCH_SQL_ONLY || c.name.includes(process.env.BENCH_SQL_ONLY),
)

function valgrindMissing(): boolean {
  return spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status !== 0
}

async function seed() {
  const { startEmbeddedPostgres } = await import('@ops-control-room/testing')
  const { migrate } = await import('@ops-control-room/core/postgres')
  const postgres = (await import('postgres')).default
  const pg = await startEmbeddedPostgres({ keepData: true })
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin.unsafe('create database bench')
  await admin.end()
  const url = pg.urlFor('bench')
  // BENCH_MIGRATIONS_BEFORE=<timestamp> leaves out the migrations from that one on: the "before" figure.
  const before = process.env.BENCH_MIGRATIONS_BEFORE
  let migrationsDir = join(repo, 'supabase/migrations')
  if (before) {
    const dir = await mkdtemp(join(tmpdir(), 'ops-sql-bench-migrations-'))
    for (const f of await readdir(migrationsDir))
      if (f < before) await cp(join(migrationsDir, f), join(dir, f))
    migrationsDir = dir
  }
  await migrate({ databaseUrl: url, migrationsDir })
  if (before) await rm(migrationsDir, { recursive: true, force: true })
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  await sql`insert into ops.sessions (id, name) values (${SESSION}, 'sql bench')`
  await sql`insert into ops.runs (session_id, kind, lane) select ${SESSION}, 'noop', 'A' from generate_series(1, 100000)`
  // Behind them, runs of another kind for a worker that serves only that kind.
  await sql`insert into ops.runs (session_id, kind, lane) select ${SESSION}, 'spec', 'A' from generate_series(1, 1000)`
  await sql`vacuum analyze`
  await sql`checkpoint`
  await sql.end()
  await pg.stop()
  return { dataDir: pg.dataDir, binDir: pg.binDir }
}

/** Instructions of one single-user backend running `statements` `times` times from a fresh copy. */
async function instructions(
  seeded: { dataDir: string; binDir: string },
  statements: string[],
  times: number,
) {
  const work = await mkdtemp(join(tmpdir(), 'ops-sql-bench-'))
  // The backend runs as the `postgres` user when we are root: it must reach and write these files.
  await chmod(work, 0o777)
  try {
    const data = join(work, 'data')
    await cp(seeded.dataDir, data, { recursive: true, preserveTimestamps: true })
    const input = `${Array.from({ length: times }, () => statements.map((s) => `${s}\n\n`).join('')).join('')}`
    const out = join(work, 'callgrind.out')
    const args = [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      join(seeded.binDir, 'postgres'),
      '--single',
      '-j',
      '-D',
      data,
      'bench',
    ]
    const asRoot = process.getuid?.() === 0
    if (asRoot) spawnSync('chown', ['-R', 'postgres', data])
    const run = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', 'valgrind', ...args], { input, encoding: 'utf8' })
      : spawnSync('valgrind', args, { input, encoding: 'utf8' })
    const output = `${run.stdout}${run.stderr}`
    if (run.status !== 0 || /\bERROR:/.test(output)) {
      throw new Error(`single-user run failed (exit ${run.status}):\n${output.slice(-2000)}`)
    }
    // BENCH_SQL_PROFILE_DIR=<dir> keeps each callgrind profile there (for callgrind_annotate --inclusive=yes).
    const keep = process.env.BENCH_SQL_PROFILE_DIR
    if (keep) await cp(out, join(keep, `callgrind.${statements.length}x${times}.${Date.now()}.out`))
    const totals = (await readFile(out, 'utf8')).match(/^(?:totals|summary): (\d+)/m)
    if (!totals) throw new Error('callgrind wrote no totals')
    return Number(totals[1])
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const results: Record<string, unknown> = { suite: 'sql' }
if (valgrindMissing()) {
  console.log('\nsql benchmark skipped: valgrind is not installed (apt-get install -y valgrind)')
  results.skipped = 'valgrind not found'
} else {
  const seeded = await seed()
  try {
    const rows: [string, string][] = []
    for (const c of cases) {
      const a = await instructions(seeded, c.statements, c.n1)
      const b = await instructions(seeded, c.statements, c.n2)
      const perCycle = Math.round((b - a) / (c.n2 - c.n1))
      results[c.name] = perCycle
      rows.push([c.name, `${(perCycle / 1e6).toFixed(2)} M instructions`])
      console.log(`${c.name}: ${perCycle}`)
    }
    const width = Math.max(...rows.map(([k]) => k.length))
    console.log(
      '\nsql benchmark (PostgreSQL 18 single-user backend under callgrind, 100,000 queued runs + 1,000 of another kind)',
    )
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`)
  } finally {
    await rm(resolve(seeded.dataDir, '..'), { recursive: true, force: true })
  }
}
console.log(`BENCH_JSON ${JSON.stringify(results)}`)
