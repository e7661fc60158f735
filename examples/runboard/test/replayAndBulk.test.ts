/**
 * The Runboard in Chromium, the second round of operator features: replay a run as a new editable
 * run, select every run matching a filter for a bulk action, session names and at-risk marks on
 * the cards, and the lane-depth chart. The test plays the worker through the client.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import type { Browser, Page } from 'playwright-core'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signDevToken } from '../../../packages/server/src/dev/devToken'
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
let sql: postgres.Sql
let dataDir: string

beforeAll(async () => {
  const appDir = await buildApp()
  db = await createTestDatabase()
  dataDir = `${appDir}/../../../test-results/ops-data-replay`
  room = await startDevControlRoom({
    port: 0,
    databaseUrl: db.url,
    dataDir,
    appDir,
    worker: false,
    progress: silent,
  })
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
  browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1500, height: 1000 } })
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

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

/** axe-core's serious and critical violations, in light and dark mode. */
async function axeSerious(): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath })
  const found: string[] = []
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    const results = (await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (o: unknown) => Promise<unknown> } }).axe
      return axe.run({ resultTypes: ['violations'] })
    })) as { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }
    for (const v of results.violations)
      if (v.impact === 'serious' || v.impact === 'critical')
        found.push(`${scheme} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  }
  await page.emulateMedia({ colorScheme: 'light' })
  return found
}

const W = 'w-replay'
const hash = () => new URLSearchParams(new URL(page.url()).hash.slice(1))

describe('replay a run as a new editable run', () => {
  it('opens a form prefilled from the run, enqueues the edited copy into the chosen session and opens it', async () => {
    const client = room.client
    const source = await client.sessions.create({ name: 'replay source' })
    const target = await client.sessions.create({ name: 'replay target' })
    const [original] = await client.runs.enqueue({
      sessionId: source.id,
      runs: [
        {
          kind: 'replay-me',
          lane: 'B',
          priority: 3,
          maxAttempts: 2,
          timeoutSeconds: 60,
          params: { n: 1, note: 'first' },
        },
      ],
    })
    const [claimed] = await client.worker.claim({ workerId: W, lanes: { B: 1 }, kinds: ['replay-me'] })
    await client.worker.fail({
      workerId: W,
      failures: [
        {
          id: claimed!.id,
          lease: claimed!.lease as string,
          retry: false,
          error: { type: 'E', message: 'no' },
        },
      ],
    })

    // Looking at the target session, the failed run of the source session open in the details.
    await page.goto(`${room.url}/#session=${target.id}&run=${original!.id}`)
    const details = page.getByRole('complementary', { name: 'Run details' })
    await details.getByRole('button', { name: 'Replay as a new run' }).click()
    const form = details.getByRole('form', { name: /Replay replay-me #\d+ as a new run/ })
    await expect.poll(() => form.getByLabel('Kind').inputValue()).toBe('replay-me')
    expect(await form.getByLabel('Lane').inputValue()).toBe('B')
    expect(await form.getByLabel('Priority').inputValue()).toBe('3')
    expect(await form.getByLabel('Max attempts').inputValue()).toBe('2')
    expect(await form.getByLabel('Timeout (s)').inputValue()).toBe('60')
    expect(JSON.parse(await form.getByLabel('Params (JSON)').inputValue())).toEqual({ n: 1, note: 'first' })

    // Bad JSON: said where, nothing sent.
    await form.getByLabel('Params (JSON)').fill('{"n": ')
    await form.getByRole('button', { name: 'Enqueue replay' }).click()
    await expect.poll(() => form.getByLabel('Params (JSON)').getAttribute('aria-invalid')).toBe('true')
    expect((await sql`select count(*)::int as n from ops.runs where kind = 'replay-me'`)[0]?.n).toBe(1)

    await form.getByLabel('Params (JSON)').fill('{"n": 2, "note": "edited"}')
    await form.getByLabel('Lane').selectOption('C')
    await form.getByLabel('Into').selectOption({ label: 'replay target (this session)' })
    await shot('replay-form')
    expect(await axeSerious()).toEqual([])
    await form.getByRole('button', { name: 'Enqueue replay' }).click()
    await expect.poll(() => hash().get('run')).not.toBe(original!.id)
    const newId = hash().get('run')
    expect(hash().get('session')).toBe(target.id)
    const [copy] = await sql`select * from ops.runs where id = ${newId}`
    expect(copy).toMatchObject({
      session_id: target.id,
      kind: 'replay-me',
      lane: 'C',
      priority: 3,
      max_attempts: 2,
      timeout_seconds: 60,
      status: 'queued',
      params: { n: 2, note: 'edited' },
    })
    const [left] = await sql`select status, params from ops.runs where id = ${original!.id}`
    expect(left).toMatchObject({ status: 'failed', params: { n: 1, note: 'first' } })
    await expect.poll(() => details.getAttribute('aria-label')).toBe('Run details')
    await expect.poll(() => details.locator('section.ocr-details').getAttribute('data-run-id')).toBe(newId)
  })

  it('keeps the template version of a template run, into a new session', async () => {
    const client = room.client
    const s = await client.sessions.create({ name: 'replay template' })
    const sleep = await client.templates.get({ name: 'sleep' })
    const [run] = await client.runs.enqueue({
      sessionId: s.id,
      runs: [{ template: { name: 'sleep', version: sleep.version }, params: { seconds: 2 } }],
    })
    await page.goto(`${room.url}/#session=${s.id}&run=${run!.id}`)
    const details = page.getByRole('complementary', { name: 'Run details' })
    await details.getByRole('button', { name: 'Replay as a new run' }).click()
    const form = details.getByRole('form', { name: /Replay sleep/ })
    await expect.poll(() => form.textContent()).toContain(`From template sleep@${sleep.version}`)
    expect(await form.getByLabel('Kind').getAttribute('readonly')).not.toBeNull()
    await form.getByLabel('Params (JSON)').fill('{"seconds": 5}')
    await form.getByLabel('Into').selectOption('new')
    await form.getByLabel('Session name').fill('replayed sleeps')
    await form.getByRole('button', { name: 'Enqueue replay' }).click()
    await expect.poll(() => hash().get('run')).not.toBe(run!.id)
    const [copy] = await sql`
      select r.template_name, r.template_version, r.params, s.name
      from ops.runs r join ops.sessions s on s.id = r.session_id where r.id = ${hash().get('run')}`
    expect(copy).toMatchObject({
      template_name: 'sleep',
      template_version: sleep.version,
      params: { seconds: 5 },
      name: 'replayed sleeps',
    })
  })
})

describe('select all matching the filter', () => {
  it('states the database count, not the loaded cards, and cancels every match server-side', async () => {
    const client = room.client
    const s = await client.sessions.create({ name: 'bulk matching' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 1300 }, (_, i) => ({
        kind: i % 2 ? 'bulk-keep' : 'bulk-stop',
        lane: (['A', 'B', 'C', 'D'] as const)[i % 4],
      })),
    })
    await page.goto(`${room.url}/#session=${s.id}&kind=bulk-stop`)
    await expect.poll(() => page.locator('article.ocr-run').count()).toBeGreaterThan(0)
    // Far fewer cards are loaded than match.
    expect(await page.locator('article.ocr-run').count()).toBeLessThan(650)
    const bar = page.getByRole('toolbar', { name: 'Bulk actions' })
    await bar.getByRole('button', { name: 'Select all matching' }).click()
    await expect.poll(() => bar.textContent()).toContain('650 runs to cancel')
    await bar.getByRole('button', { name: 'Cancel all matching' }).click()
    const confirm = bar.getByRole('alertdialog')
    expect(await confirm.textContent()).toContain('Cancel 650 runs matching the filter?')
    await shot('bulk-matching-confirm')
    expect(await axeSerious()).toEqual([])
    const bulkRequests: string[] = []
    const onRequest = (r: { method(): string; url(): string }) => {
      if (r.method() === 'POST' && /\/runs\/(cancel|retry)/.test(r.url()))
        bulkRequests.push(new URL(r.url()).pathname)
    }
    page.on('request', onRequest)
    await confirm.getByRole('button', { name: 'Yes, cancel 650 runs' }).click()
    await expect
      .poll(() => bar.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Cancel requested for 650 runs of 650 runs matching.')
    page.off('request', onRequest)
    // One request, one transaction: no batches from the browser.
    expect(bulkRequests).toEqual(['/runs/cancel-matching'])
    const rows = await sql`
      select kind, status, count(*)::int as n from ops.runs where session_id = ${s.id} group by 1, 2 order by 1, 2`
    expect(rows.map((r) => `${r.kind} ${r.status} ${r.n}`)).toEqual([
      'bulk-keep queued 650',
      'bulk-stop cancelled 650',
    ])
    await expect
      .poll(() => page.locator('.ocr-counts [data-status="cancelled"] strong').getAttribute('data-count'))
      .toBe('650')
  })
})

describe('select all matching, as a signed-in user', () => {
  it('refuses the whole retry when one matching kind may not be retried by the user, then retries the allowed kind', async () => {
    const client = room.client
    await sql`select ops.set_kind_policy(${sql.json({ kind: 'bulk-user-ok', roles: ['authenticated'] })}::jsonb)`
    const s = await client.sessions.create({ name: 'bulk as a user' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 30 }, (_, i) => ({
        kind: i === 29 ? 'bulk-user-locked' : 'bulk-user-ok',
        lane: (['A', 'B', 'C', 'D'] as const)[i % 4],
      })),
    })
    await sql`update ops.runs set status = 'failed', worker_id = 'w', finished_at = now(), error = '{"type":"E","message":"boom"}'
      where session_id = ${s.id}`
    // The browser gets a signed-in user's token instead of the dev server's service_role one.
    const secret = (await readFile(join(dataDir, 'dev-jwt-secret'), 'utf8')).trim()
    const token = signDevToken(secret, { role: 'authenticated', sub: '00000000-0000-4000-8000-0000000000e2' })
    await page.route('**/ops-config.json', (route) =>
      route.fulfill({ json: { apiUrl: room.url, token, mode: 'dev' } }),
    )
    try {
      await page.goto(`${room.url}/#session=${s.id}`)
      await page.reload()
      const bar = page.getByRole('toolbar', { name: 'Bulk actions' })
      await bar.getByRole('button', { name: 'Select all matching' }).click()
      await expect.poll(() => bar.textContent()).toContain('30 runs to retry')
      await bar.getByRole('button', { name: 'Retry all matching' }).click()
      await bar.getByRole('alertdialog').getByRole('button', { name: 'Yes, retry 30 runs' }).click()
      await expect
        .poll(() => bar.getByRole('status').textContent(), { timeout: 15_000 })
        .toMatch(/^Refused, nothing was changed: .*bulk-user-locked/)
      const [after] = await sql`
        select count(*) filter (where status = 'failed')::int as failed from ops.runs where session_id = ${s.id}`
      expect(after?.failed).toBe(30)
      await shot('bulk-matching-refused')

      // Narrowed to the kind the user may retry: all 29, in one go.
      await page.goto(`${room.url}/#session=${s.id}&kind=bulk-user-ok`)
      await bar.getByRole('button', { name: 'Select all matching' }).click()
      await expect.poll(() => bar.textContent()).toContain('29 runs to retry')
      await bar.getByRole('button', { name: 'Retry all matching' }).click()
      await bar.getByRole('alertdialog').getByRole('button', { name: 'Yes, retry 29 runs' }).click()
      await expect
        .poll(() => bar.getByRole('status').textContent(), { timeout: 15_000 })
        .toBe('Retried 29 runs of 29 runs matching.')
      const rows = await sql`
        select kind, status, count(*)::int as n from ops.runs where session_id = ${s.id} group by 1, 2 order by 1, 2`
      expect(rows.map((r) => `${r.kind} ${r.status} ${r.n}`)).toEqual([
        'bulk-user-locked failed 1',
        'bulk-user-ok queued 29',
      ])
    } finally {
      await page.unroute('**/ops-config.json')
      await page.reload()
    }
  })
})

describe('cards and charts', () => {
  it('names each run’s session on the board of all recent runs', async () => {
    const client = room.client
    const a = await client.sessions.create({ name: 'nightly backup' })
    const b = await client.sessions.create({ name: 'canary deploy' })
    const [ra] = await client.runs.enqueue({ sessionId: a.id, runs: [{ kind: 'names-a', lane: 'A' }] })
    const [rb] = await client.runs.enqueue({ sessionId: b.id, runs: [{ kind: 'names-b', lane: 'A' }] })
    await page.goto(`${room.url}/#`)
    const card = (id: string) => page.locator(`article.ocr-run[data-run-id="${id}"]`)
    await expect.poll(() => card(rb!.id).locator('.ocr-run__session').textContent()).toBe('canary deploy')
    await expect.poll(() => card(ra!.id).locator('.ocr-run__session').textContent()).toBe('nightly backup')
    expect(await card(ra!.id).getAttribute('aria-label')).toContain('in nightly backup')
    // Inside one session, the name is not repeated on every card.
    await page.goto(`${room.url}/#session=${a.id}`)
    await expect.poll(() => card(ra!.id).count()).toBe(1)
    expect(await card(ra!.id).locator('.ocr-run__session').count()).toBe(0)
  })

  it('marks a running card at risk when its worker is dead, not when it is alive', async () => {
    const client = room.client
    const s = await client.sessions.create({ name: 'at risk' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: [
        { kind: 'risk-dead', lane: 'C' },
        { kind: 'risk-alive', lane: 'D' },
      ],
    })
    const [lost] = await client.worker.claim({ workerId: 'w-gone', lanes: { C: 1 }, kinds: ['risk-dead'] })
    const [kept] = await client.worker.claim({ workerId: 'w-here', lanes: { D: 1 }, kinds: ['risk-alive'] })
    await client.worker.heartbeat({
      workerId: 'w-gone',
      runs: [{ id: lost!.id, lease: lost!.lease as string }],
    })
    await client.worker.heartbeat({
      workerId: 'w-here',
      runs: [{ id: kept!.id, lease: kept!.lease as string }],
    })
    await sql`update ops.workers set last_seen_at = now() - interval '5 minutes' where id = 'w-gone'`
    await page.goto(`${room.url}/#session=${s.id}`)
    const card = (id: string) => page.locator(`article.ocr-run[data-run-id="${id}"]`)
    await expect.poll(() => card(lost!.id).getAttribute('data-at-risk')).toBe('true')
    // The bulk result of another session's runs is not shown here.
    expect(await page.getByRole('toolbar', { name: 'Bulk actions' }).getByRole('status').textContent()).toBe(
      '',
    )
    expect(await card(lost!.id).getAttribute('data-status')).toBe('running')
    expect(await card(lost!.id).getAttribute('aria-label')).toContain('at risk')
    expect(await card(lost!.id).locator('.ocr-run__risk').getAttribute('title')).toContain('w-gone is dead')
    expect(await card(kept!.id).getAttribute('data-at-risk')).toBeNull()
    await shot('card-at-risk')
    expect(await axeSerious()).toEqual([])
  })

  it("charts queued runs per lane from the database's history on open, then from the live counts", async () => {
    const client = room.client
    const s = await client.sessions.create({ name: 'lane depth' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 55 }, (_, i) => ({ kind: 'depth', lane: i < 30 ? 'A' : 'B' })),
    })
    // History before the page opens: lane A's 30 waiting for 12 minutes; 15 of lane B's waited from
    // 10 to 4 minutes ago, then ran and succeeded (the other 10 were enqueued just now).
    await sql`update ops.runs set created_at = now() - interval '12 minutes'
      where session_id = ${s.id} and lane = 'A'`
    await sql`update ops.runs r set created_at = now() - interval '10 minutes', started_at = now() - interval '4 minutes',
        claimed_at = now() - interval '4 minutes', attempt = 1, status = 'succeeded', worker_id = 'w',
        finished_at = now() - interval '3 minutes', updated_at = now() - interval '3 minutes'
      where r.id in (select id from ops.runs where session_id = ${s.id} and lane = 'B' order by seq limit 15)`
    await page.goto(`${room.url}/#session=${s.id}`)
    const chart = page.locator('figure.ocr-chart--depth')
    // The last 15 minutes are drawn at once (180 buckets of 5 s), not only what follows the opening.
    // The first live count, stamped at the start of its 5 s step, takes the place of the buckets it
    // is newer than: one, or two when the history's answer came in a later step than the count's.
    await expect.poll(() => chart.getByRole('img').getAttribute('data-history')).toBe('180')
    expect(Number(await chart.getByRole('img').getAttribute('data-points'))).toBeGreaterThanOrEqual(179)
    expect(await chart.getByRole('img').getAttribute('aria-label')).toMatch(/over the last 15 min$/)
    const ys = async (lane: string) =>
      ((await chart.locator(`polyline[data-lane="${lane}"]`).getAttribute('points')) ?? '')
        .split(' ')
        .map((p) => Number(p.split(',')[1]))
    // Lane B stood higher (smaller y) minutes ago than it does now; lane A was empty before its 30.
    const b = await ys('B')
    expect(Math.min(...b)).toBeLessThan(b.at(-1) as number)
    const a = await ys('A')
    expect(a[0]).toBeGreaterThan(a.at(-1) as number)
    await expect.poll(() => chart.locator('[data-lane="A"]').first().getAttribute('data-queued')).toBe('30')
    await expect.poll(() => chart.locator('span[data-lane="B"]').getAttribute('data-queued')).toBe('10')
    expect(await chart.getByRole('img').getAttribute('aria-label')).toContain(
      'lane A 30, lane B 10, lane C 0, lane D 0',
    )
    // The worker drains lane A: the line follows the live counts.
    const claimed = await client.worker.claim({ workerId: 'w-depth', lanes: { A: 20 }, kinds: ['depth'] })
    expect(claimed).toHaveLength(20)
    await expect.poll(() => chart.locator('span[data-lane="A"]').getAttribute('data-queued')).toBe('10')
    expect(Number(await chart.getByRole('img').getAttribute('data-points'))).toBeGreaterThanOrEqual(1)
    expect(await chart.locator('polyline').count()).toBe(4)
    await shot('lane-depth-chart')
  })
})
