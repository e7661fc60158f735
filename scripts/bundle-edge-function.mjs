#!/usr/bin/env node
// Bundles @ops-control-room/core from this repository's source into the ops-executor Edge Function
// (supabase/functions/ops-executor/_vendor/core/), where its deno.json import map points. The
// function then deploys from the repository as it is, whatever version of core is (or is not)
// published. Run it before `supabase functions deploy ops-executor` (`pnpm supabase:bundle`).
//
//   node scripts/bundle-edge-function.mjs [outDir]
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'tsup'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const core = resolve(repo, 'packages/core')
const coreManifest = JSON.parse(readFileSync(resolve(core, 'package.json'), 'utf8'))
const outDir = resolve(process.argv[2] ?? resolve(repo, 'supabase/functions/ops-executor/_vendor/core'))

await build({
  entry: { index: resolve(core, 'src/index.ts'), postgres: resolve(core, 'src/postgres.ts') },
  format: ['esm'],
  outDir,
  dts: false,
  splitting: true,
  clean: true,
  silent: true,
  config: false,
  target: 'es2022',
  tsconfig: resolve(core, 'tsconfig.build.json'),
  // Core's own dependencies (and its zod peer) stay npm: specifiers in deno.json, at the versions
  // core asks for (deploy/test/specs.test.ts checks the two lists agree).
  external: Object.keys({ ...coreManifest.dependencies, ...coreManifest.peerDependencies }),
})
console.log(`bundled @ops-control-room/core into ${outDir}`)
