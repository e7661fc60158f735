#!/usr/bin/env node
// The repository URL is set in ONE place, the root package.json's `repository.url`. This copies it
// into every published package's package.json (keeping each one's `directory`), or with `--check`
// lists the packages that disagree and exits 1. Set the real URL before the first publish: npm
// provenance checks that the package was built from the repository it names.
//
//   node scripts/sync-repository.mjs [--check] [repositoryRoot]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const check = args.includes('--check')
const root = resolve(
  args.find((a) => !a.startsWith('--')) ?? join(dirname(fileURLToPath(import.meta.url)), '..'),
)

const read = (file) => JSON.parse(readFileSync(file, 'utf8'))
const url = read(join(root, 'package.json')).repository?.url
if (typeof url !== 'string' || url === '') {
  console.error('the root package.json has no repository.url: set it there first')
  process.exit(1)
}

const wrong = []
for (const name of readdirSync(join(root, 'packages')).sort()) {
  const file = join(root, 'packages', name, 'package.json')
  if (!existsSync(file)) continue
  const pkg = read(file)
  if (pkg.private) continue
  const want = { type: 'git', url, directory: `packages/${name}` }
  const have = pkg.repository ?? {}
  if (have.type === want.type && have.url === want.url && have.directory === want.directory) continue
  wrong.push(`packages/${name}`)
  if (!check) {
    pkg.repository = want
    // Field order kept: an existing `repository` is replaced where it stands.
    writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`)
  }
}
if (check && wrong.length > 0) {
  console.error(`repository differs from the root package.json's (${url}) in: ${wrong.join(', ')}`)
  console.error('run `pnpm repository:sync`')
  process.exit(1)
}
console.log(check ? `all published packages name ${url}` : `${wrong.length} package.json updated to ${url}`)
