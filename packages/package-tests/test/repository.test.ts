import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

/**
 * The repository URL lives in one place, the root package.json; every published package names it
 * (npm provenance checks it). `pnpm repository:sync` copies it.
 */
const run = promisify(execFile)
const root = fileURLToPath(new URL('../../..', import.meta.url))
const script = join(root, 'scripts/sync-repository.mjs')
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8'))

describe('the repository URL', () => {
  it('is set in the root package.json and named by every published package', () => {
    const url = read(join(root, 'package.json')).repository?.url
    expect(url).toMatch(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/)
    const published = readdirSync(join(root, 'packages'))
      .map((name) => ({ name, pkg: read(join(root, 'packages', name, 'package.json')) }))
      .filter(({ pkg }) => !pkg.private)
    expect(published.length).toBeGreaterThanOrEqual(4)
    for (const { name, pkg } of published) {
      expect(pkg.repository, name).toEqual({ type: 'git', url, directory: `packages/${name}` })
    }
  })

  it('is copied by the sync script, which --check fails on a package that differs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-repo-sync-'))
    try {
      const url = 'git+https://github.com/acme/ops.git'
      await writeFile(
        join(dir, 'package.json'),
        JSON.stringify({ private: true, repository: { type: 'git', url } }),
      )
      await mkdir(join(dir, 'packages/a'), { recursive: true })
      await mkdir(join(dir, 'packages/internal'), { recursive: true })
      const a = {
        name: '@x/a',
        version: '1.0.0',
        repository: { type: 'git', url: 'placeholder' },
        type: 'module',
      }
      await writeFile(join(dir, 'packages/a/package.json'), JSON.stringify(a))
      await writeFile(
        join(dir, 'packages/internal/package.json'),
        JSON.stringify({ name: 'i', private: true }),
      )

      const failed = await run(process.execPath, [script, '--check', dir]).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      )
      expect(failed?.code).toBe(1)
      expect(failed?.stderr).toContain('packages/a')
      expect(failed?.stderr).not.toContain('packages/internal')

      await run(process.execPath, [script, dir])
      const synced = JSON.parse(await readFile(join(dir, 'packages/a/package.json'), 'utf8'))
      expect(synced.repository).toEqual({ type: 'git', url, directory: 'packages/a' })
      expect(Object.keys(synced)).toEqual(['name', 'version', 'repository', 'type'])
      await run(process.execPath, [script, '--check', dir])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
