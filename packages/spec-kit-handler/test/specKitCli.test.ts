// `spec-kit check` and `spec-kit new` on fixture trees, as a library call and as the real bin; and the
// commands of .github/workflows/spec-kit-enforce.yml run on passing and failing repositories.
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { type CheckReport, checkSpecs, SPEC_FILES } from '../src/index'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const repoRoot = resolve(packageDir, '../..')
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spec-kit-cli-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

let n = 0
/** A fixture tree: `{ 'spec/a/prd.md': 'text' }`. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = join(dir, `tree-${n++}`)
  await mkdir(root)
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true })
    await writeFile(join(root, path), content)
  }
  return root
}
const bundle = (feature: string, except: string[] = []) =>
  Object.fromEntries(
    SPEC_FILES.filter((f) => !except.includes(f)).map((f) => [`spec/${feature}/${f}`, `# ${f}\n`]),
  )

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd: options.cwd ?? packageDir, env: options.env ?? process.env },
      (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/bin/specKit.ts', ...args])

describe('checkSpecs', () => {
  it('passes complete bundles, and a tree without spec/', async () => {
    const ok = await checkSpecs(await tree({ ...bundle('alpha'), ...bundle('beta-2') }))
    expect(ok.ok).toBe(true)
    expect(ok.features.map((f) => f.feature)).toEqual(['alpha', 'beta-2'])
    expect(await checkSpecs(await tree({ 'README.md': 'x' }))).toMatchObject({ ok: true, hasSpecDir: false })
  })

  it('reports missing, empty, extra, nested, symlinked and badly named entries per feature', async () => {
    const root = await tree({
      ...bundle('missing', ['tasks.md', 'prd.md']),
      ...bundle('empty'),
      'spec/empty/plan.md': '',
      'spec/empty/prd.md': ' \n\t\n',
      ...bundle('extra'),
      'spec/extra/notes.md': 'x',
      ...bundle('nested'),
      'spec/nested/deeper/prd.md': '# nested',
      ...bundle('Bad_Name'),
      'spec/stray.md': 'x',
      ...bundle('linked', ['plan.md']),
    })
    await symlink(join(root, 'spec/linked/prd.md'), join(root, 'spec/linked/plan.md'))
    const report = await checkSpecs(root)
    expect(report.ok).toBe(false)
    const by = (f: string) => report.features.find((x) => x.feature === f)
    expect(by('missing')).toMatchObject({ ok: false, missing: ['prd.md', 'tasks.md'] })
    expect(by('empty')).toMatchObject({ ok: false, empty: ['prd.md', 'plan.md'] })
    expect(by('extra')).toMatchObject({ ok: false, extra: ['notes.md'] })
    expect(by('nested')).toMatchObject({ ok: false, extra: ['deeper'] })
    expect(by('Bad_Name')).toMatchObject({ ok: false, badName: 'Bad_Name' })
    expect(by('linked')).toMatchObject({ ok: false, notFiles: ['plan.md'] })
    expect(report.strayFiles).toEqual(['stray.md'])
  })
})

describe('the spec-kit bin', () => {
  it('check: prints a line per feature and exits 0 when all pass, 1 on any violation, 2 on bad usage', async () => {
    const good = await cli('check', await tree(bundle('alpha')))
    expect(good).toMatchObject({ code: 0 })
    expect(good.stdout).toContain('ok    spec/alpha/')
    const bad = await cli('check', await tree({ ...bundle('alpha'), ...bundle('beta', ['plan.md']) }))
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain('FAIL  spec/beta/')
    expect(bad.stdout).toMatch(/missing\s+plan\.md/)
    expect((await cli('frobnicate')).code).toBe(2)
    expect((await cli('check', '--nope')).code).toBe(2)
  })

  it('check --json prints the report', async () => {
    const res = await cli('check', '--json', await tree(bundle('beta', ['tasks.md'])))
    expect(res.code).toBe(1)
    const report = JSON.parse(res.stdout) as CheckReport
    expect(report.features[0]).toMatchObject({ feature: 'beta', missing: ['tasks.md'], ok: false })
  })

  it('new: scaffolds a bundle that passes check, refuses to overwrite and refuses a path as a feature', async () => {
    const root = await tree({})
    const made = await cli(
      'new',
      'billing-export',
      '--root',
      root,
      '--title',
      'Billing export',
      '--summary',
      'CSV.',
    )
    expect(made.code).toBe(0)
    expect(made.stdout).toContain('wrote spec/billing-export/tasks.md')
    expect(await readFile(join(root, 'spec/billing-export/prd.md'), 'utf8')).toMatch(
      /^# PRD: Billing export\n/,
    )
    expect((await cli('check', root)).code).toBe(0)
    expect((await cli('new', 'billing-export', '--root', root)).code).toBe(1)
    for (const feature of ['../escape', 'a/b', '/abs']) {
      const res = await cli('new', feature, '--root', root)
      expect(res.code, feature).toBe(2)
    }
    expect((await checkSpecs(root)).features.map((f) => f.feature)).toEqual(['billing-export'])
  })
})

describe('.github/workflows/spec-kit-enforce.yml', () => {
  it('its check step passes this repository and good fixtures, and fails bad ones', async () => {
    const workflow = parse(
      await readFile(join(repoRoot, '.github/workflows/spec-kit-enforce.yml'), 'utf8'),
    ) as {
      on: Record<string, unknown>
      jobs: Record<string, { steps: { id?: string; run?: string }[] }>
    }
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push'])
    const step = Object.values(workflow.jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.id === 'spec-kit-check')
    expect(step?.run).toBeDefined()
    const check = (workspace: string) =>
      run('bash', ['-euo', 'pipefail', '-c', step?.run as string], {
        cwd: repoRoot,
        env: { ...process.env, GITHUB_WORKSPACE: workspace },
      })
    const own = await check(repoRoot)
    expect(own.code, own.stdout + own.stderr).toBe(0)
    expect(own.stdout).toContain('ok    spec/ops-control-room/')
    expect((await check(await tree({ ...bundle('a'), ...bundle('b') }))).code).toBe(0)
    const failing = await check(
      await tree({ ...bundle('a'), 'spec/a/extra.md': 'x', ...bundle('b', ['prd.md']) }),
    )
    expect(failing.code).toBe(1)
    expect(failing.stdout).toMatch(/extra\s+extra\.md/)
    expect(failing.stdout).toMatch(/missing\s+prd\.md/)
  })
})
