// End to end in Chromium: the Spec Kit form of the dev control room's Runboard generates a bundle,
// the local bare repository gets a commit with the four files, the previews render the markdown and
// the ZIP holds exactly the four files.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { unzipSync } from 'fflate'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type DevControlRoom,
  startDevControlRoom,
} from '../../../packages/server/src/dev/startDevControlRoom'
import { appRoot, launchChromium, screenshotPath } from './browser'

const silent = { step: () => () => {}, info: () => {}, fail: (m: string) => console.error(m) }

let db: TestDatabase
let room: DevControlRoom
let browser: Browser
let page: Page
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spec-kit-e2e-'))
  // A build of its own: the other browser test builds into dist/ at the same time.
  const { build } = await import('vite')
  const appDir = join(dir, 'app')
  await build({
    root: appRoot,
    configFile: join(appRoot, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: appDir, emptyOutDir: true },
  })
  db = await createTestDatabase()
  room = await startDevControlRoom({
    port: 0,
    databaseUrl: db.url,
    dataDir: join(dir, 'data'),
    appDir,
    concurrency: 2,
    progress: silent,
  })
  browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1500, height: 1200 }, acceptDownloads: true })
  page = await context.newPage()
  page.on('pageerror', (err) => console.error('page error:', err.message))
})

afterAll(async () => {
  await browser?.close()
  await room?.close()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

const git = (gitDir: string, ...args: string[]) =>
  execFileSync('git', [`--git-dir=${gitDir}`, ...args], { encoding: 'utf8' }).trim()

describe('Spec Kit in the Runboard', () => {
  it('generates a bundle from the form: committed to the local bare repository, previewed, zipped', async () => {
    await page.goto(room.url)
    const form = page.getByRole('form', { name: 'Generate a Spec Kit bundle' })
    await form.getByLabel('Feature').fill('billing-export')
    await form.getByLabel('Title').fill('Billing export')
    await form.getByLabel('Summary').fill('Export invoices as **CSV** for the finance team.')
    await form.getByLabel('Tasks').fill('# Tasks\n\n- [ ] Write the exporter\n- [ ] Document it\n')
    await form.getByRole('button', { name: 'Generate' }).click()

    const outcome = page.getByRole('region', { name: 'Spec Kit run' })
    await expect.poll(() => outcome.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded')
    const sha = (await outcome.locator('[data-sha]').getAttribute('data-sha')) as string
    expect(sha).toMatch(/^[0-9a-f]{40}$/)

    // The commit is on the remote, with exactly the four files.
    const bare = join(dir, 'data', 'spec-kit', 'specs.git')
    expect(git(bare, 'rev-parse', 'refs/heads/spec-kit/billing-export')).toBe(sha)
    expect(git(bare, 'diff-tree', '--no-commit-id', '--name-only', '-r', sha).split('\n').sort()).toEqual([
      'spec/billing-export/constitution.md',
      'spec/billing-export/plan.md',
      'spec/billing-export/prd.md',
      'spec/billing-export/tasks.md',
    ])
    expect(git(bare, 'show', `${sha}:spec/billing-export/tasks.md`)).toBe(
      '# Tasks\n\n- [ ] Write the exporter\n- [ ] Document it',
    )

    // Rendered markdown, not source: headings and the summary's bold.
    const previews = outcome.locator('.ocr-spec-kit__preview')
    await expect.poll(() => previews.count()).toBe(4)
    await expect.poll(() => outcome.getByRole('heading', { name: 'PRD: Billing export' }).count()).toBe(1)
    await expect.poll(() => outcome.locator('strong', { hasText: 'CSV' }).count()).toBeGreaterThan(0)
    expect(await outcome.getByText('# PRD: Billing export').count()).toBe(0)
    await page.screenshot({ path: await screenshotPath('spec-kit-form'), fullPage: true })

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      outcome.getByRole('button', { name: 'Download all (4) as ZIP' }).click(),
    ])
    const entries = unzipSync(new Uint8Array(await readFile(await download.path())))
    expect(Object.keys(entries).sort()).toEqual(['constitution.md', 'plan.md', 'prd.md', 'tasks.md'])
    expect(new TextDecoder().decode(entries['prd.md'])).toBe(
      `${git(bare, 'show', `${sha}:spec/billing-export/prd.md`)}\n`,
    )
  })
})
