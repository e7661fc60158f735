#!/usr/bin/env node
// The published packages as a user gets them: each one built and packed (`pnpm pack`), the tarballs
// installed with npm into a fresh project outside the workspace, and there every entry point imported
// as ES module and required as CommonJS, and a small program type-checked under `module: nodenext`
// (an .mts and a .cts file). Run by .ci/run, not by `pnpm test`: it downloads the packages'
// dependencies from the npm registry (npm's cache makes a second run quick).
//
//   node scripts/check-installed.mjs [--no-build] [--keep]
//
// --no-build: pack the dist/ folders as they are. --keep: leave the project folder for a look.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = new Set(process.argv.slice(2))
const started = Date.now()
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
const read = (file) => JSON.parse(readFileSync(file, 'utf8'))
const sh = (cmd, argv, cwd) =>
  execFileSync(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })

const published = readdirSync(join(root, 'packages'))
  .sort()
  .map((dir) => ({
    dir: join(root, 'packages', dir),
    pkg: read(join(root, 'packages', dir, 'package.json')),
  }))
  .filter(({ pkg }) => !pkg.private)

// Each package after the workspace packages it depends on: its declarations are built against theirs
// (github's against worker's, every one's against core's). With --no-build, a package without a dist/
// is built all the same.
const names = new Set(published.map(({ pkg }) => pkg.name))
const inWorkspace = (pkg) =>
  Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.devDependencies }).filter(
    (name) => names.has(name) && name !== pkg.name,
  )
const ordered = []
const visit = (entry, path = []) => {
  if (ordered.includes(entry)) return
  if (path.includes(entry))
    throw new Error(`dependency cycle: ${[...path, entry].map((e) => e.pkg.name).join(' → ')}`)
  for (const name of inWorkspace(entry.pkg))
    visit(
      published.find(({ pkg }) => pkg.name === name),
      [...path, entry],
    )
  ordered.push(entry)
}
for (const entry of published) visit(entry)
published.splice(0, published.length, ...ordered)
for (const { dir, pkg } of published) {
  if (args.has('--no-build') && existsSync(join(dir, 'dist'))) continue
  console.log(`building ${pkg.name}`)
  sh('pnpm', ['run', 'build'], dir)
}

const project = mkdtempSync(join(tmpdir(), 'ops-installed-'))
const tarballs = join(project, 'tarballs')
mkdirSync(tarballs)
const deps = {}
for (const { dir, pkg } of published) {
  const out = sh('pnpm', ['pack', '--pack-destination', tarballs], dir).trim().split('\n')
  const file = out[out.length - 1].trim()
  deps[pkg.name] = `file:${file}`
}
console.log(`packed ${published.length} packages (${seconds()})`)

// What a user adds next to them: the peers at the ranges the packages declare, TypeScript and types
// at the workspace's versions.
const rootPkg = read(join(root, 'package.json'))
const reactPkg = read(join(root, 'packages/react/package.json'))
const corePkg = read(join(root, 'packages/core/package.json'))
Object.assign(deps, {
  zod: corePkg.peerDependencies.zod,
  react: reactPkg.devDependencies.react,
  'react-dom': reactPkg.devDependencies['react-dom'],
  typescript: rootPkg.devDependencies.typescript,
  '@types/node': rootPkg.devDependencies['@types/node'],
  '@types/react': reactPkg.devDependencies['@types/react'],
})
writeFileSync(
  join(project, 'package.json'),
  `${JSON.stringify({ name: 'ops-installed-check', private: true, type: 'module', dependencies: deps }, null, 2)}\n`,
)

// Runtime: every entry point, both formats; one copy of each error class across entry points.
writeFileSync(
  join(project, 'esm.mjs'),
  `import assert from 'node:assert/strict'
import * as core from '@ops-control-room/core'
import * as client from '@ops-control-room/core/client'
import * as params from '@ops-control-room/core/params'
import * as pg from '@ops-control-room/core/postgres'
import * as worker from '@ops-control-room/worker'
import * as server from '@ops-control-room/server'
import * as react from '@ops-control-room/react'
import * as specKit from '@ops-control-room/spec-kit-handler'
import * as github from '@ops-control-room/github'
import * as webhook from '@ops-control-room/github/webhook'

for (const fn of [core.createOpsClient, client.createOpsClient, client.httpBackend, params.validateTemplateParams, pg.postgresBackend, pg.migrate,
  worker.createWorker, worker.defineHandler, server.createServer, react.OpsProvider, react.Runboard,
  specKit.specKitHandler, github.createGithubApp, webhook.createGithubWebhookHandler])
  assert.equal(typeof fn, 'function')
assert.ok(new client.NotFoundError('x') instanceof core.OpsError, 'one OpsError across core and core/client')
assert.ok(pg.toOpsError(Object.assign(new Error('x'), { code: 'OPNTF' })) instanceof core.NotFoundError)
assert.throws(() => client.createOpsClient({ backend: pg.postgresBackend({ databaseUrl: 'postgres://localhost/x' }) }), /leaves validation to the server/)
await assert.rejects(
  core.createOpsClient({ backend: client.httpBackend({ url: 'http://127.0.0.1:9', token: 't' }) }).sessions.create({ name: '' }),
  (err) => err instanceof core.ValidationError,
)
console.log('ESM: every entry point loads')
`,
)
writeFileSync(
  join(project, 'cjs.cjs'),
  `const assert = require('node:assert/strict')
const core = require('@ops-control-room/core')
const client = require('@ops-control-room/core/client')
const params = require('@ops-control-room/core/params')
const pg = require('@ops-control-room/core/postgres')
const worker = require('@ops-control-room/worker')
const server = require('@ops-control-room/server')
const react = require('@ops-control-room/react')
const specKit = require('@ops-control-room/spec-kit-handler')
const github = require('@ops-control-room/github')
const webhook = require('@ops-control-room/github/webhook')

for (const fn of [core.createOpsClient, client.createOpsClient, params.validateTemplateParams, pg.postgresBackend, worker.createWorker,
  server.createServer, react.Runboard, specKit.specKitHandler, github.createGithubApp, webhook.createGithubWebhookHandler])
  assert.equal(typeof fn, 'function')
assert.ok(new client.NotFoundError('x') instanceof core.OpsError, 'one OpsError across core and core/client')
assert.ok(pg.toOpsError(Object.assign(new Error('x'), { code: 'OPNTF' })) instanceof core.NotFoundError)
console.log('CommonJS: every entry point loads')
`,
)

// Types: the README's shapes, as an ES module and as CommonJS, strict, declarations checked too.
const program = (kind) => `import { createOpsClient, isOpsError, type Run } from '@ops-control-room/core'
import * as client from '@ops-control-room/core/client'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createWorker, defineHandler } from '@ops-control-room/worker'
import { createServer } from '@ops-control-room/server'
import { OpsProvider, Runboard } from '@ops-control-room/react'
import { specKitHandler } from '@ops-control-room/spec-kit-handler'
import { createGithubWebhookHandler } from '@ops-control-room/github/webhook'
import { z } from 'zod'

const ops = createOpsClient({ backend: postgresBackend({ databaseUrl: 'postgres://localhost/ops' }) })
const browser: client.OpsClient = client.createOpsClient({
  backend: client.httpBackend({ url: '/api', token: () => 'jwt' }),
})
const echo = defineHandler({
  kind: 'echo',
  input: z.object({ n: z.number() }),
  run: async ({ params }) => ({ n: params.n * 2 }),
})
export async function main(): Promise<Run[]> {
  const worker = createWorker({ client: ops, handlers: [echo] })
  const session = await browser.sessions.create({ name: '${kind}' })
  const runs = await ops.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'echo', params: { n: 1 } }] })
  await worker.stop()
  return runs
}
export const lanes: readonly client.Lane[] = client.LANES
export const used = [createServer, OpsProvider, Runboard, specKitHandler, createGithubWebhookHandler, isOpsError]
`
writeFileSync(join(project, 'esm-types.mts'), program('esm'))
writeFileSync(join(project, 'cjs-types.cts'), program('cjs'))
writeFileSync(
  join(project, 'tsconfig.json'),
  `${JSON.stringify(
    {
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['esm-types.mts', 'cjs-types.cts'],
    },
    null,
    2,
  )}\n`,
)

let failed = false
try {
  // Optional dependencies (the embedded PostgreSQL, 60 MB) are left out: nothing here starts one.
  sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', '--loglevel=error'],
    project,
  )
  console.log(`installed with npm (${seconds()})`)
  for (const [what, cmd, argv] of [
    ['ESM', process.execPath, ['esm.mjs']],
    ['CommonJS', process.execPath, ['cjs.cjs']],
    ['types (nodenext, .mts and .cts)', process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']],
  ]) {
    try {
      execFileSync(cmd, argv, { cwd: project, stdio: 'inherit' })
      console.log(`ok: ${what}`)
    } catch {
      console.error(`FAIL check-installed: ${what}`)
      failed = true
    }
  }
} catch (err) {
  console.error(`FAIL check-installed: npm install: ${err.message}`)
  failed = true
} finally {
  if (args.has('--keep')) console.log(`project left in ${project}`)
  else rmSync(project, { recursive: true, force: true })
}
console.log(`${failed ? 'FAILED' : 'passed'}: packed, installed and loaded in ${seconds()}`)
process.exit(failed ? 1 : 0)
