/**
 * The Runboard as an operator uses it, in Chromium: true counts at size, retry, bulk actions with a
 * confirmation, filters in the URL, focus, the honest live badge, a phone-sized screen, and axe in
 * light and dark mode. No in-process worker: the test plays the worker through the client, so every
 * state is exactly the one asserted. Screenshots go to test-results/screenshots.
 */
import { createRequire } from 'node:module'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type DevControlRoom,
  startDevControlRoom,
} from '../../../packages/server/src/dev/startDevControlRoom'
import { buildApp, launchChromium, screenshotPath } from './browser'

const silent = { step: () => () => {}, info: () => {}, fail: (m: string) => console.error(m) }
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

let db: TestDatabase
let room: DevControlRoom
let browser: Browser
let context: BrowserContext
let page: Page
let sql: postgres.Sql

beforeAll(async () => {
  const appDir = await buildApp()
  db = await createTestDatabase()
  room = await startDevControlRoom({
    port: 0,
    databaseUrl: db.url,
    dataDir: `${appDir}/../../../test-results/ops-data-operations`,
    appDir,
    worker: false,
    progress: silent,
  })
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1500, height: 1000 } })
  page = await context.newPage()
  page.on('pageerror', (err) => console.error('page error:', err.message))
})

afterAll(async () => {
  await browser?.close()
  await sql?.end()
  await room?.close()
  await db?.drop()
})

async function shot(name: string) {
  const path = await screenshotPath(name)
  await page.screenshot({ path, fullPage: true })
  console.log(`screenshot: ${path}`)
}

/** axe-core's serious and critical violations on the page as it is now. */
async function axeSerious(): Promise<{ id: string; targets: string[] }[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath })
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (o: unknown) => Promise<unknown> } }).axe
    return (await axe.run({ resultTypes: ['violations'] })) as {
      violations: { id: string; impact: string; nodes: { target: string[] }[] }[]
    }
  })
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))
    .map((v) => {
      console.log('axe:', JSON.stringify(v))
      return v
    })
}

const W = 'w-operations'
const cards = (status?: string) =>
  page.locator(status ? `article.ocr-run[data-status="${status}"]` : 'article.ocr-run')
const count = (status: string) =>
  page.locator(`.ocr-counts [data-status="${status}"] strong`).getAttribute('data-count')

describe('the Runboard as an operations dashboard', () => {
  let sessionId: string
  let failedId: string

  it('shows the database counts of a large session and renders only the cards in view', async () => {
    const client = room.client
    const session = await client.sessions.create({ name: 'operations' })
    sessionId = session.id
    await client.runs.enqueue({
      sessionId,
      runs: Array.from({ length: 2000 }, (_, i) => ({
        kind: i % 2 ? 'ops-build' : 'ops-test',
        lane: (['A', 'B', 'C', 'D'] as const)[i % 4],
        params: { n: i },
      })),
    })
    // The newest run of lane A fails with a long error; two more succeed.
    const claimed = await client.worker.claim({
      workerId: W,
      lanes: { A: 3 },
      kinds: ['ops-build', 'ops-test'],
    })
    const [fail, ...ok] = claimed
    failedId = fail!.id
    await client.worker.complete({
      workerId: W,
      results: ok.map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    await client.worker.fail({
      workerId: W,
      failures: [
        {
          id: failedId,
          lease: fail!.lease as string,
          retry: false,
          error: {
            type: 'DeployError',
            message: `the deploy failed: ${'x'.repeat(400)}`,
            stack: 'at deploy()',
          },
        },
      ],
    })
    const pageReads: string[] = []
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('perLane=true')) pageReads.push(r.url())
    }
    page.on('request', onRequest)
    await page.goto(`${room.url}/#session=${sessionId}`)
    await expect.poll(() => page.locator('.ocr-counts').getAttribute('data-total')).toBe('2000')
    await expect.poll(() => page.locator('.ocr-live').getAttribute('data-live')).toBe('live')
    page.off('request', onRequest)
    // The first pages are read once on load, not again when the stream goes live.
    expect(pageReads, pageReads.join(' ')).toHaveLength(1)
    expect(await count('succeeded')).toBe('2')
    expect(await count('failed')).toBe('1')
    expect(await count('queued')).toBe('1997')
    expect(await page.locator('section.ocr-lane[data-lane="A"] .ocr-lane__count').textContent()).toBe('(500)')
    expect(await cards().count()).toBeLessThan(100)
    expect(await page.title()).toBe('operations · Runboard')
    await shot('operations-board')
  })

  it('keeps a failed card inside its lane, and retries it as a new attempt', async () => {
    await page.goto(`${room.url}/#session=${sessionId}&status=failed`)
    await expect.poll(() => cards('failed').count()).toBe(1)
    const card = cards('failed').first()
    const lane = page.locator('section.ocr-lane[data-lane="A"]')
    const [cardBox, laneBox] = [await card.boundingBox(), await lane.boundingBox()]
    expect(cardBox!.x + cardBox!.width).toBeLessThanOrEqual(laneBox!.x + laneBox!.width + 1)
    await expect.poll(() => card.locator('.ocr-status').isVisible()).toBe(true)
    await card.getByRole('button', { name: /^Retry/ }).click()
    // It leaves the failed filter (it is queued again) and the database has the event.
    await expect.poll(() => cards('failed').count()).toBe(0)
    await expect.poll(() => count('failed')).toBe('0')
    const [row] = await sql`select status, max_attempts from ops.runs where id = ${failedId}`
    expect(row).toMatchObject({ status: 'queued', max_attempts: 2 })
    const events =
      await sql`select data from ops.run_events where run_id = ${failedId} and type = 'run:retried'`
    expect(events[0]?.data).toMatchObject({ previous_status: 'failed', error: { type: 'DeployError' } })
    // The timeline keeps the ended attempt and its error with the stack.
    await page.goto(`${room.url}/#session=${sessionId}&run=${failedId}`)
    const attempts = page.getByRole('list', { name: 'Earlier attempts' })
    await expect.poll(() => attempts.locator('li').first().textContent()).toContain('Attempt 1 failed')
    expect(await attempts.textContent()).toContain('DeployError: the deploy failed')
    await attempts.locator('li[data-type="failed"] summary').click()
    expect(await attempts.locator('li[data-type="failed"] pre').textContent()).toBe('at deploy()')
    await shot('operations-timeline')
  })

  it('keeps filters in the URL: reload and back give the same board', async () => {
    await page.goto(`${room.url}/#session=${sessionId}`)
    await expect.poll(() => cards().count()).toBeGreaterThan(0)
    await page.getByRole('checkbox', { name: 'succeeded' }).check()
    await expect.poll(() => page.evaluate(() => location.hash)).toContain('status=succeeded')
    await expect.poll(() => cards('succeeded').count()).toBe(2)
    expect(await cards('queued').count()).toBe(0)
    await page.getByLabel('Search', { exact: true }).fill('"n": 1999')
    await expect
      .poll(() => page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get('search')))
      .toBe('"n": 1999')
    await page.reload()
    await expect.poll(() => page.getByRole('checkbox', { name: 'succeeded' }).isChecked()).toBe(true)
    expect(await page.getByLabel('Search', { exact: true }).inputValue()).toBe('"n": 1999')
    await page.goBack()
    await expect.poll(() => page.getByLabel('Search', { exact: true }).inputValue()).toBe('')
    await page.getByRole('button', { name: 'Clear filters' }).click()
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#session=${sessionId}`)
  })

  it('cancels selected runs after a confirmation that states the count', async () => {
    await page.goto(`${room.url}/#session=${sessionId}&lane=B`)
    await expect.poll(() => cards('queued').count()).toBeGreaterThan(3)
    const boxes = page.getByRole('checkbox', { name: /^Select / })
    for (let i = 0; i < 3; i++) await boxes.nth(i).check()
    const bar = page.getByRole('toolbar', { name: 'Bulk actions' })
    expect(await bar.textContent()).toContain('3 runs selected')
    await bar.getByRole('button', { name: 'Cancel selected' }).click()
    const confirm = bar.getByRole('alertdialog')
    expect(await confirm.textContent()).toContain('Cancel 3 runs?')
    await shot('operations-bulk-confirm')
    await confirm.getByRole('button', { name: 'Yes, cancel 3 runs' }).click()
    await expect
      .poll(() => bar.getByRole('status').textContent())
      .toBe('Cancel requested for 3 runs of 3 runs.')
    await expect.poll(() => count('cancelled')).toBe('3')
  })

  it('moves focus into the details and back, and cancels from the details panel', async () => {
    await page.goto(`${room.url}/#session=${sessionId}&lane=C`)
    const card = cards('queued').first()
    await expect.poll(() => card.count()).toBe(1)
    const runId = await card.getAttribute('data-run-id')
    const link = card.getByRole('link', { name: /^Details/ })
    expect(await link.getAttribute('href')).toBe(`#session=${sessionId}&run=${runId}`)
    await link.click()
    const details = page.getByRole('complementary', { name: 'Run details' })
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe('Run details')
    await details.getByRole('button', { name: 'Cancel run' }).click()
    await expect.poll(() => details.locator('.ocr-status').first().textContent()).toBe('cancelled')
    await expect.poll(() => details.getByRole('button', { name: 'Retry run' }).count()).toBe(1)
    await page.keyboard.press('Escape')
    await expect.poll(() => details.count()).toBe(0)
    await expect
      .poll(() =>
        page.evaluate(() => document.activeElement?.closest('article')?.getAttribute('data-run-id')),
      )
      .toBe(runId)
  })

  it('adds more than 100 runs to the open session with priority, attempts and timeout', async () => {
    await page.goto(`${room.url}/#session=${sessionId}`)
    await expect.poll(() => page.locator('.ocr-counts').getAttribute('data-total')).not.toBeNull()
    const total = Number(await page.locator('.ocr-counts').getAttribute('data-total'))
    const form = page.getByRole('form', { name: 'Enqueue runs' })
    await form.getByLabel('Template').selectOption('sleep')
    await expect.poll(() => form.getByLabel('Add to').inputValue()).toBe('current')
    await form.getByLabel('Runs', { exact: true }).fill('150')
    await form.getByText('Priority, attempts, timeout, schedule').click()
    await form.getByLabel('Priority').fill('7')
    await form.getByLabel('Max attempts').fill('3')
    await form.getByLabel('Timeout (s)').fill('90')
    await form.getByRole('button', { name: 'Enqueue' }).click()
    await expect.poll(() => form.getByRole('status').textContent()).toBe('Enqueued 150 runs in operations.')
    await expect.poll(() => page.locator('.ocr-counts').getAttribute('data-total')).toBe(String(total + 150))
    const rows = await sql`
      select count(*)::int as n from ops.runs
      where session_id = ${sessionId} and kind = 'sleep' and priority = 7 and max_attempts = 3 and timeout_seconds = 90`
    expect(rows[0]?.n).toBe(150)
  })

  it('shows logs with data, search, download and a tail that follows; JSON pretty; a large log previewed', async () => {
    const client = room.client
    const [run] = await client.worker.claim({
      workerId: W,
      lanes: { C: 1 },
      kinds: ['ops-build', 'ops-test'],
    })
    const runId = run!.id
    await client.worker.appendEvents({
      events: Array.from({ length: 60 }, (_, i) => ({
        runId,
        level: i === 7 ? ('warn' as const) : ('info' as const),
        message: i === 7 ? 'disk almost full' : `step ${i}`,
        ...(i === 7 ? { data: { freeBytes: 1234, volume: '/data' } } : {}),
      })),
    })
    await client.worker.createArtifacts({
      artifacts: [
        {
          runId,
          name: 'result.json',
          kind: 'text',
          contentType: 'application/json',
          text: '{"ok":true,"n":[1,2]}',
        },
      ],
    })
    // A 2 MB log, uploaded through a signed URL as a worker would.
    const big = `${'0123456789abcdef'.repeat(64)}\n`.repeat(2048)
    const bytes = new TextEncoder().encode(big)
    const auth = { authorization: `Bearer ${room.token}`, 'content-type': 'application/json' }
    const upload = (await (
      await fetch(`${room.url}/artifacts/upload-url`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ runId, name: 'big.log', contentType: 'text/plain', size: bytes.byteLength }),
      })
    ).json()) as { url: string; headers: Record<string, string>; storagePath: string }
    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: bytes })
    const stored = (await put.json()) as { sha256: string; size: number }
    await client.worker.createArtifacts({
      artifacts: [
        {
          runId,
          name: 'big.log',
          kind: 'file',
          contentType: 'text/plain',
          storagePath: upload.storagePath,
          size: stored.size,
          sha256: stored.sha256,
        },
      ],
    })

    await page.goto(`${room.url}/#session=${sessionId}&run=${runId}`)
    const details = page.getByRole('complementary', { name: 'Run details' })
    const log = details.getByRole('list', { name: 'Event log' })
    await expect.poll(() => log.locator('.ocr-event').count()).toBeGreaterThan(60)
    // Following the tail: scrolled to the bottom, and new lines keep it there.
    const atBottom = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 24)
    await expect.poll(atBottom).toBe(true)
    await client.worker.appendEvents({ events: [{ runId, message: 'the newest line' }] })
    await expect.poll(() => log.locator('.ocr-event').last().textContent()).toContain('the newest line')
    await expect.poll(atBottom).toBe(true)
    // Search, and the event's data.
    await details.getByLabel('Search events').fill('disk')
    await expect.poll(() => log.locator('.ocr-event').count()).toBe(1)
    await log.locator('.ocr-event__data summary').click()
    expect(await log.locator('.ocr-event__data code').textContent()).toContain('"freeBytes": 1234')
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      details.getByRole('button', { name: 'Download log' }).click(),
    ])
    expect(download.suggestedFilename()).toBe(`run-${runId.slice(0, 8)}-events.log`)
    // Artifacts: JSON pretty-printed; the large log previewed, saying why the rest is not shown.
    await details.getByRole('button', { name: 'result.json' }).click()
    await expect
      .poll(() => details.locator('.ocr-artifact__text').textContent())
      .toBe('{\n  "ok": true,\n  "n": [\n    1,\n    2\n  ]\n}')
    await details.getByRole('button', { name: 'big.log' }).click()
    await expect
      .poll(() => details.locator('[data-preview="true"]').textContent())
      .toContain('Showing the first 1.0 MB of 2.0 MB')
    expect((await details.locator('.ocr-artifact__text').textContent())?.length).toBeGreaterThan(1000)
    await shot('operations-logs')
  })

  it('searches sessions by name', async () => {
    for (const name of ['nightly deploy', 'pr 42 checks', 'nightly backup'])
      await room.client.sessions.create({ name })
    // Sessions without runs send no notifications: a fresh page reads them.
    await page.goto('about:blank')
    await page.goto(`${room.url}/#session=${sessionId}`)
    const nav = page.getByRole('navigation', { name: 'Sessions' })
    await expect.poll(() => nav.locator('.ocr-sessions__name').count()).toBeGreaterThanOrEqual(4)
    await nav.getByLabel('Search sessions').fill('NIGHTLY')
    await expect
      .poll(() => nav.locator('.ocr-sessions__name').allTextContents())
      .toEqual(['nightly backup', 'nightly deploy'])
    await nav.getByLabel('Search sessions').fill('no such thing')
    await expect.poll(() => nav.textContent()).toContain('No session matches')
  })

  it('says so when a session does not exist', async () => {
    await page.goto(`${room.url}/#session=00000000-0000-4000-8000-000000000000`)
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('There is no session')
    expect(await page.title()).toBe('Unknown session · Runboard')
  })

  it('shows Offline at once when the network goes, and resyncs when it is back', async () => {
    await page.goto(`${room.url}/#session=${sessionId}`)
    await expect.poll(() => page.locator('.ocr-live').getAttribute('data-live')).toBe('live')
    const before = Number(await count('succeeded'))
    await context.setOffline(true)
    await expect.poll(() => page.locator('.ocr-live').textContent(), { timeout: 3000 }).toBe('Offline')
    const claimed = await room.client.worker.claim({
      workerId: W,
      lanes: { D: 5 },
      kinds: ['ops-build', 'ops-test'],
    })
    await room.client.worker.complete({
      workerId: W,
      results: claimed.map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    await shot('operations-offline')
    await context.setOffline(false)
    await expect.poll(() => page.locator('.ocr-live').getAttribute('data-live')).toBe('live')
    await expect.poll(() => count('succeeded')).toBe(String(before + claimed.length))
  })

  it('fits a 390 px phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(`${room.url}/#session=${sessionId}`)
    await expect.poll(() => cards().count()).toBeGreaterThan(0)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await shot('operations-mobile')
    await page.setViewportSize({ width: 1500, height: 1000 })
  })

  it('charts throughput from the aggregates and shows exact times in UTC on request', async () => {
    await page.goto('about:blank')
    await page.goto(`${room.url}/#session=${sessionId}`)
    const chart = page.getByRole('img', { name: /runs finished in the last 15 minutes/ })
    await expect
      .poll(() => chart.getAttribute('aria-label'))
      .toMatch(/^\d+ runs finished in the last 15 minutes, 0 failed/)
    expect(await chart.locator('rect').count()).toBeGreaterThan(0)
    const created = page.locator('.ocr-sessions__item[aria-current="page"] time')
    await expect.poll(() => created.getAttribute('title')).toMatch(/^\d+\/\d+\/\d{4}, /)
    await page.getByLabel('Times in UTC').check()
    await expect.poll(() => created.getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)
    await page.getByLabel('Times in UTC').uncheck()
  })

  it('shows the fleet: a dead worker as dead and its runs at risk', async () => {
    const client = room.client
    const info = {
      host: 'box-1',
      lanes: ['A', 'B'] as ('A' | 'B')[],
      concurrency: { A: 2, B: 2 },
      version: '1.4.0',
    }
    await client.worker.heartbeat({ workerId: 'w-alive', runs: [], info })
    const [lost] = await client.worker.claim({
      workerId: 'w-dead',
      lanes: { A: 1 },
      kinds: ['ops-build', 'ops-test'],
    })
    await client.worker.heartbeat({
      workerId: 'w-dead',
      runs: [{ id: lost!.id, lease: lost!.lease as string }],
      info: { ...info, host: 'box-2' },
    })
    await sql`update ops.workers set last_seen_at = now() - interval '5 minutes' where id = 'w-dead'`
    await page.goto(`${room.url}/#session=${sessionId}&view=workers`)
    const fleet = page.getByRole('region', { name: 'Workers' })
    await expect
      .poll(() => fleet.locator('tr[data-worker-id="w-dead"]').getAttribute('data-state'))
      .toBe('dead')
    expect(await fleet.locator('tr[data-worker-id="w-alive"]').getAttribute('data-state')).toBe('alive')
    const dead = fleet.locator('tr[data-worker-id="w-dead"]')
    await expect.poll(() => dead.locator('li[data-at-risk="true"]').count()).toBe(1)
    expect(await dead.textContent()).toContain(`#${lost!.seq}`)
    expect(await dead.textContent()).toContain('1 / 4')
    expect(await fleet.locator('tr[data-worker-id="w-alive"]').textContent()).toContain('1.4.0')
    await shot('operations-fleet')
  })

  it('has no serious or critical axe violations on the board and the details, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      await page.goto(`${room.url}/#session=${sessionId}`)
      await expect.poll(() => cards().count()).toBeGreaterThan(0)
      expect({ scheme, view: 'board', violations: await axeSerious() }).toEqual({
        scheme,
        view: 'board',
        violations: [],
      })
      await shot(`operations-board-${scheme}`)
      await page.goto(`${room.url}/#session=${sessionId}&run=${failedId}`)
      await expect.poll(() => page.locator('.ocr-details h2').textContent()).toContain('#')
      expect({ scheme, view: 'details', violations: await axeSerious() }).toEqual({
        scheme,
        view: 'details',
        violations: [],
      })
      await shot(`operations-details-${scheme}`)
      await page.goto(`${room.url}/#session=${sessionId}&view=workers`)
      await expect.poll(() => page.locator('tr[data-worker-id]').count()).toBeGreaterThan(0)
      expect({ scheme, view: 'workers', violations: await axeSerious() }).toEqual({
        scheme,
        view: 'workers',
        violations: [],
      })
    }
    await page.emulateMedia({ colorScheme: 'light' })
  })
})
