/**
 * Runs every benchmark suite in ./suites (or those named on the command line: `pnpm bench worker`),
 * one at a time, each in its own process so that one suite's load never skews another's figures.
 * Each suite prints a table and a JSON line starting with `BENCH_JSON `.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const suites = readdirSync(join(here, 'suites'))
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort()
if (suites.length === 0) {
  console.error(`no benchmark suite matches ${wanted.join(', ')}`)
  process.exit(1)
}
let failed = 0
for (const suite of suites) {
  console.log(`\n=== bench: ${suite} ===`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'suites', suite)], {
    stdio: 'inherit',
    cwd: here,
    // Resolve workspace packages to their sources (tsconfig paths), as the tests do: the packages'
    // exports point at dist/, which exists only after a build.
    env: { TSX_TSCONFIG_PATH: join(here, '../packages/worker/tsconfig.json'), ...process.env },
  })
  if (result.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
