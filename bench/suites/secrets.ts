/**
 * The checks that see client input, on 1 MiB adversarial values: the secret check (`findSecret`) and
 * a template's params schema with a catastrophic-backtracking `pattern`. Aim: every input under
 * 50 ms. For scale, the regular expression the JWT rule used to be, on 64 KiB of "eyJ".
 *
 * `pnpm bench secrets`
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

const { findSecret, validateTemplateParams } = await import('@ops-control-room/core')

const MiB = 1024 * 1024
const fill = (unit: string, size = MiB) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size)

/** Median of 5 timed calls after one warm-up, in ms. */
function time(fn: () => unknown): number {
  fn()
  const samples: number[] = []
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    fn()
    samples.push(performance.now() - t0)
  }
  samples.sort((a, b) => a - b)
  return Math.round((samples[2] as number) * 100) / 100
}

const rows: { check: string; input: string; ms: number }[] = []
for (const unit of [
  'eyJ',
  'eyJaaaa.',
  'xoxb-!',
  'github_pat_!',
  'AKIA!',
  '-----BEGIN ',
  'a:',
  'a://b:',
  'a',
  'password ',
  '?token',
  'sk-',
  'Aa1/',
  'glpat-!',
])
  rows.push({
    check: 'findSecret',
    input: `${JSON.stringify(unit)} × 1 MiB`,
    ms: time(() => findSecret({ v: fill(unit) })),
  })

const template = {
  id: '00000000-0000-4000-8000-000000000000',
  name: 'bench',
  version: 1,
  kind: 'k',
  lane: 'A' as const,
  priority: 0,
  description: null,
  defaultParams: {},
  paramsSchema: { type: 'object', properties: { host: { type: 'string', pattern: '^([a-z0-9]+\\.?)*$' } } },
  maxAttempts: 1,
  timeoutSeconds: null,
  createdBy: null,
  createdAt: new Date(0).toISOString(),
}
for (const [label, size] of [
  ['256 KiB (the params limit)', 256 * 1024],
  ['1 MiB', MiB],
] as const) {
  rows.push({
    check: 'params pattern ^([a-z0-9]+\\.?)*$',
    input: `"a" × ${label} + "!"`,
    ms: time(() => {
      try {
        validateTemplateParams(template, { host: `${fill('a', size)}!` })
      } catch {
        // The expected verdict: no match.
      }
    }),
  })
}
const oldJwt = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\./
rows.push({
  check: 'old JWT regex (for scale)',
  input: '"eyJ" × 64 KiB',
  ms: time(() => oldJwt.test(fill('eyJ', 64 * 1024))),
})

console.table(rows)
const secretRows = rows.filter((r) => r.check === 'findSecret')
const worst = Math.max(...secretRows.map((r) => r.ms))
console.log(
  `secret check, worst 1 MiB adversarial input: ${worst} ms (aim: < 50 ms); load average ${loadavg()[0]?.toFixed(2)}`,
)
console.log(
  `BENCH_JSON ${JSON.stringify({ suite: 'secrets', rows, worstSecretCheckMs: worst, loadavg: loadavg() })}`,
)
