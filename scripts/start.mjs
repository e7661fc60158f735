#!/usr/bin/env node
// `pnpm start`: builds what changed since the last build (a package whose dist/ is newer than its
// sources is skipped), then runs `ops-control-room dev` with the arguments given, in this process
// group. Ctrl-C stops the control room in order and ends with exit code 0, so pnpm has no failure
// to report. The root package.json runs it as `exec node scripts/start.mjs`: without `exec`, the
// shell pnpm runs the script with (dash) is in the terminal's process group too, dies of the
// Ctrl-C, and pnpm reports the script as failed (`ELIFECYCLE`) however cleanly this ends.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

// What `dev` runs, with what each build bundles of the others: the packages keep their workspace
// dependencies external (a change in core needs only core rebuilt), the Runboard app bundles them.
const PACKAGES = [
  ['@ops-control-room/core', 'packages/core', []],
  ['@ops-control-room/worker', 'packages/worker', []],
  ['@ops-control-room/spec-kit-handler', 'packages/spec-kit-handler', []],
  ['@ops-control-room/github', 'packages/github', []],
  ['@ops-control-room/server', 'packages/server', []],
  ['@ops-control-room/react', 'packages/react', []],
  [
    '@ops-control-room/example-runboard',
    'examples/runboard',
    ['@ops-control-room/core', '@ops-control-room/react'],
  ],
]
const INPUTS = [
  'src',
  'package.json',
  'tsup.config.ts',
  'vite.config.ts',
  'index.html',
  'tsconfig.build.json',
]

/** Newest modification time under `path` (0 when missing), skipping tests. */
function newest(path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let max = stat.mtimeMs
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || /\.test\.tsx?$/.test(entry)) continue
    max = Math.max(max, newest(join(path, entry)))
  }
  return max
}

const stale = []
for (const [name, dir, bundles] of PACKAGES) {
  const built = newest(join(root, dir, 'dist'))
  const source = Math.max(...INPUTS.map((i) => newest(join(root, dir, i))))
  if (built === 0 || source > built || bundles.some((b) => stale.includes(b))) stale.push(name)
}
if (stale.length > 0) {
  console.log(`building ${stale.join(', ')}`)
  const filters = stale.flatMap((name) => ['--filter', name])
  const build = spawnSync('pnpm', [...filters, 'build'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) process.exit(build.status ?? 1)
} else {
  console.log('every package is up to date: nothing to build')
}

const dev = spawn(
  process.execPath,
  [join(root, 'packages/server/dist/cli.js'), 'dev', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
)
// The terminal sends Ctrl-C to the whole process group, the control room included: it stops on its
// own, and this launcher waits for it rather than dying first. SIGTERM (a supervisor) is passed on.
let interrupted = false
process.on('SIGINT', () => {
  interrupted = true
})
process.on('SIGTERM', () => {
  interrupted = true
  dev.kill('SIGTERM')
})
dev.on('exit', (code, signal) => {
  if (interrupted && (code === 0 || code === 130 || signal === 'SIGINT' || signal === 'SIGTERM'))
    process.exit(0)
  process.exit(code ?? 1)
})
