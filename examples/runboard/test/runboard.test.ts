import { readFile } from 'node:fs/promises'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { unzipSync } from 'fflate'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type DevControlRoom,
  startDevControlRoom,
} from '../../../packages/server/src/dev/startDevControlRoom'
import { buildApp, launchChromium, screenshotPath } from './browser'

const silent = { step: () => () => {}, info: () => {}, fail: (m: string) => console.error(m) }

let db: TestDatabase
let room: DevControlRoom
let browser: Browser
let page: Page

beforeAll(async () => {
  const appDir = await buildApp()
  db = await createTestDatabase()
  room = await startDevControlRoom({
    port: 0,
    databaseUrl: db.url,
    dataDir: `${appDir}/../../../test-results/ops-data-browser`,
    appDir,
    concurrency: 2,
    progress: silent,
  })
  browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1500, height: 1000 }, acceptDownloads: true })
  page = await context.newPage()
  page.on('pageerror', (err) => console.error('page error:', err.message))
})

afterAll(async () => {
  await browser?.close()
  await room?.close()
  await db?.drop()
})

async function shot(name: string) {
  const path = await screenshotPath(name)
  await page.screenshot({ path, fullPage: true })
  console.log(`screenshot: ${path}`)
}

/** Fills the enqueue form and submits it; resolves when the form reports the runs enqueued. */
async function enqueue(options: {
  template: string
  session: string
  runs: number
  lane: string
  params: Record<string, string>
}) {
  const form = page.getByRole('form', { name: 'Enqueue runs' })
  await form.getByLabel('Template').selectOption(options.template)
  for (const [name, value] of Object.entries(options.params)) {
    const field = form.locator(`[data-param="${name}"] input`)
    await field.fill(value)
  }
  // With a session open, the form adds to it by default: these tests want a new one each time.
  if (await form.getByLabel('Add to').count()) await form.getByLabel('Add to').selectOption('new')
  await form.getByLabel('Session name').fill(options.session)
  await form.getByLabel('Runs', { exact: true }).fill(String(options.runs))
  await form.getByLabel('Lane').selectOption(options.lane)
  await form.getByRole('button', { name: 'Enqueue' }).click()
  await expect
    .poll(() => form.getByRole('status').textContent(), { timeout: 10_000 })
    .toContain(`Enqueued ${options.runs} run`)
}

const cards = (status?: string) =>
  page.locator(status ? `article.ocr-run[data-status="${status}"]` : 'article.ocr-run')

describe('the Runboard in a real browser', () => {
  it('enqueues a session from the UI and shows its runs move through the four lanes to succeeded', async () => {
    const opened = Date.now()
    await page.goto(room.url)
    await expect.poll(() => page.locator('.ocr-live').getAttribute('data-live')).toBe('live')
    console.log(`live after ${Date.now() - opened} ms`)
    // The session list mounts once the board has its counts (its own chunk, after the first render).
    await expect.poll(() => page.getByRole('navigation', { name: 'Sessions' }).count()).toBe(1)
    await enqueue({
      template: 'demo',
      session: 'browser e2e',
      runs: 4,
      lane: 'spread',
      params: { steps: '4', stepMs: '400' },
    })
    // The new session is selected, its runs sit one per lane, and we see them running on the way.
    await expect.poll(() => page.locator('main h2').textContent()).toBe('browser e2e')
    for (const lane of ['A', 'B', 'C', 'D']) {
      await expect
        .poll(() => page.locator(`section.ocr-lane[data-lane="${lane}"] article.ocr-run`).count())
        .toBe(1)
    }
    await expect.poll(() => cards('running').count(), { timeout: 10_000 }).toBeGreaterThan(0)
    await shot('runboard-running')
    await expect.poll(() => cards('succeeded').count(), { timeout: 30_000 }).toBe(4)
    const progress = await page
      .locator('article.ocr-run progress')
      .evaluateAll((els) => els.map((e) => (e as HTMLProgressElement).value))
    expect(progress).toEqual([1, 1, 1, 1])
    // Counts come from the database's aggregates, read after the same changes as the cards.
    await expect.poll(() => page.locator('[data-metric="in-flight"] dd').textContent()).toBe('0')
    await expect
      .poll(() => page.locator('.ocr-counts [data-status="succeeded"] strong').textContent())
      .toBe('4')
    await shot('runboard-succeeded')
  })

  it('cancels a running run from its card', async () => {
    await enqueue({ template: 'sleep', session: 'cancel me', runs: 1, lane: 'B', params: { seconds: '60' } })
    await expect.poll(() => cards('running').count(), { timeout: 15_000 }).toBe(1)
    const card = cards('running').first()
    await card.getByRole('button', { name: /^Cancel/ }).click()
    await expect.poll(() => cards('cancelled').count(), { timeout: 15_000 }).toBe(1)
    expect(
      await cards('cancelled')
        .first()
        .getByRole('button', { name: /^Cancel/ })
        .count(),
    ).toBe(0)
    await shot('runboard-cancelled')
  })

  it("opens a run's events and artifacts and downloads them as one ZIP", async () => {
    await page.getByRole('button', { name: /browser e2e/ }).click()
    await expect.poll(() => cards('succeeded').count()).toBe(4)
    const card = page.locator('section.ocr-lane[data-lane="C"] article.ocr-run').first()
    await card.getByRole('link', { name: /^Details/ }).click()
    const details = page.getByRole('complementary', { name: 'Run details' })
    await expect.poll(() => details.locator('.ocr-event').count()).toBeGreaterThan(5)
    const types = await details.locator('.ocr-event__type').allTextContents()
    expect(types).toEqual(expect.arrayContaining(['run:enqueued', 'run:claimed', 'demo:step']))
    // Level filter: hide debug lines.
    expect(await details.locator('.ocr-event[data-level="debug"]').count()).toBeGreaterThan(0)
    await details.getByRole('checkbox', { name: 'debug' }).uncheck()
    expect(await details.locator('.ocr-event[data-level="debug"]').count()).toBe(0)
    expect(await details.locator('.ocr-event[data-level="warn"]').count()).toBe(1)

    // Artifacts: markdown rendered, the SVG chart shown as an image, the log file as text.
    await expect.poll(() => details.locator('.ocr-artifacts__list li').count()).toBe(3)
    await details.getByRole('button', { name: 'report.md' }).click()
    await expect.poll(() => details.locator('.ocr-markdown h1').textContent()).toMatch(/^Demo run \d+$/)
    await details.getByRole('button', { name: 'chart.svg' }).click()
    const img = details.locator('img.ocr-artifact__image')
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0)
    // Shown once, as an image (not also as its XML source).
    expect(await details.locator('figure.ocr-artifact pre').count()).toBe(0)
    await details.getByRole('button', { name: 'output.log' }).click()
    await expect.poll(() => details.locator('.ocr-artifact__text').textContent()).toContain('step 4/4')
    await shot('run-details')
    await details.getByRole('button', { name: 'report.md' }).click()
    const viewer = await screenshotPath('artifact-report')
    await details.locator('figure.ocr-artifact').screenshot({ path: viewer })
    console.log(`screenshot: ${viewer}`)

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      details.getByRole('button', { name: /Download all \(3\) as ZIP/ }).click(),
    ])
    expect(download.suggestedFilename()).toMatch(/^run-[0-9a-f]{8}-artifacts\.zip$/)
    const path = await download.path()
    const entries = unzipSync(new Uint8Array(await readFile(path)))
    expect(Object.keys(entries).sort()).toEqual(['chart.svg', 'output.log', 'report.md'])
    const text = (name: string) => new TextDecoder().decode(entries[name])
    expect(text('report.md')).toMatch(/^# Demo run \d+/)
    expect(text('output.log')).toContain('step 4/4 done')
    expect(text('chart.svg')).toMatch(/^<svg /)
    await expect.poll(() => details.getByRole('status').last().textContent()).toContain('Downloaded')
  })
})
