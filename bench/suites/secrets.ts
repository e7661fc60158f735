/**
 * The checks that see client input, on 1 MiB adversarial values (figures are ms per MiB): the secret
 * check (`findSecret`) on repeated prefixes and near misses (each format one character short), and
 * template params schemas' `pattern`s (RE2 on its lazy DFA), catastrophic-backtracking ones included.
 * Aim: every input under 50 ms. A pattern whose DFA explodes falls back to RE2's NFA (linear, slower):
 * one row shows it. For scale, the regular expression the JWT rule used to be, on 64 KiB of "eyJ".
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

/**
 * Median of 5 timed calls after one warm-up, in ms: wall time, and CPU time of this process (on the
 * shared machine the wall time also counts waiting for a core; the CPU time is the work itself).
 */
function time(fn: () => unknown): { ms: number; cpuMs: number } {
  fn()
  const wall: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    fn()
    wall.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
  }
  const median = (xs: number[]) => Math.round((xs.sort((a, b) => a - b)[2] as number) * 100) / 100
  return { ms: median(wall), cpuMs: median(cpu) }
}

const rows: { check: string; input: string; ms: number; cpuMs: number }[] = []
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
  // Near misses: each format one character short of a match, then a character that ends it.
  `ghp_${'a'.repeat(29)}!`,
  `github_pat_${'a'.repeat(29)}!`,
  `sk_live_${'a'.repeat(9)}!`,
  `AKIA${'A'.repeat(15)}!`,
  `xoxb-${'a'.repeat(9)}!`,
  `glpat-${'a'.repeat(19)}!`,
  `AIza${'a'.repeat(34)}!`,
  `hooks.slack.com/services/${'a'.repeat(19)}!`,
  `sk-${'a'.repeat(19)}!`,
  'eyJaaaaa.aaaa!',
  '-----BEGIN RSA PRIVATE KE!',
  `https://${'u'.repeat(255)}:`,
  `${'Aa1/'.repeat(9)}Aa1 `,
])
  rows.push({
    check: 'findSecret',
    input: `${JSON.stringify(unit.length > 24 ? `${unit.slice(0, 20)}…${unit.slice(-3)}` : unit)} × 1 MiB`,
    ...time(() => findSecret({ v: fill(unit) })),
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
const withPattern = (pattern: string) => ({
  ...template,
  paramsSchema: { type: 'object', properties: { host: { type: 'string', pattern } } },
})
for (const [pattern, unit] of [
  ['^([a-z0-9]+\\.?)*$', 'a'],
  ['^([a-z0-9]+\\.?)*$', 'a.'],
  ['^(a|a)*$', 'a'],
  ['^[a-z0-9-]+$', 'a'],
  ['^[a-z]+(-[a-z]+)*$', 'ab-'],
  ['(?i)^[a-zé]+$', 'é'],
  ['^(\\w+\\s?)*$', 'a '],
  ['(a|b)*a(a|b){10}$', 'ab'],
] as const) {
  for (const [label, size] of [
    ['256 KiB (the params limit)', 256 * 1024],
    ['1 MiB', MiB],
  ] as const) {
    if (size !== MiB && unit !== 'a') continue
    const t = withPattern(pattern)
    const host = `${fill(unit, size)}!`
    rows.push({
      check: `params pattern ${pattern}`,
      input: `${JSON.stringify(unit)} × ${label} + "!"`,
      ...time(() => {
        try {
          validateTemplateParams(t, { host })
        } catch {
          // The expected verdict: no match.
        }
      }),
    })
  }
}
// The lazy DFA's worst case that a template may hold: (a|b)*a(a|b){10}$ needs 2^11 states, the most
// that fit its budget, on input that visits them all. {11} and more are refused when the template is
// created (they would run at NFA speed, ~30× slower).
{
  let seed = 7
  const ab: string[] = []
  for (let i = 0; i < MiB; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    ab.push(seed & 0x10000 ? 'a' : 'b')
  }
  const t = withPattern('(a|b)*a(a|b){10}$')
  const host = `${ab.join('')}!`
  rows.push({
    check: 'params pattern (a|b)*a(a|b){10}$ (largest automaton allowed)',
    input: 'random a/b × 1 MiB + "!"',
    ...time(() => {
      try {
        validateTemplateParams(t, { host })
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
  ...time(() => oldJwt.test(fill('eyJ', 64 * 1024))),
})

console.table(rows)
const secretRows = rows.filter((r) => r.check === 'findSecret')
const worst = Math.max(...secretRows.map((r) => r.ms))
const worstCpu = Math.max(...secretRows.map((r) => r.cpuMs))
const patternRows = rows.filter((r) => r.check.startsWith('params pattern') && r.input.includes('1 MiB'))
const worstPattern = Math.max(...patternRows.map((r) => r.ms))
const worstPatternCpu = Math.max(...patternRows.map((r) => r.cpuMs))
console.log(
  `secret check, worst 1 MiB adversarial input: ${worst} ms per MiB wall, ${worstCpu} ms CPU (aim: < 50 ms); load average ${loadavg()[0]?.toFixed(2)}`,
)
console.log(
  `template pattern (RE2, lazy DFA), worst 1 MiB adversarial input: ${worstPattern} ms per MiB wall, ${worstPatternCpu} ms CPU (aim: < 50 ms; patterns whose automaton overflows the DFA are refused at template creation)`,
)
console.log(
  `BENCH_JSON ${JSON.stringify({ suite: 'secrets', rows, worstSecretCheckMs: worst, worstSecretCheckCpuMs: worstCpu, worstPatternMs: worstPattern, worstPatternCpuMs: worstPatternCpu, loadavg: loadavg() })}`,
)
