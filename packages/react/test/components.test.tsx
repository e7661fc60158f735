import type { OpsClient } from '@ops-control-room/core'
import { EnqueueForm, Runboard, RunDetails, SessionList } from '@ops-control-room/react'
import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { providerFor, setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

async function session(client: OpsClient, kinds: [string, 'A' | 'B' | 'C' | 'D'][]) {
  const s = await client.sessions.create({ name: `components ${Math.random().toString(36).slice(2, 7)}` })
  const runs = await client.runs.enqueue({
    sessionId: s.id,
    runs: kinds.map(([kind, lane]) => ({ kind, lane, params: { n: 1 }, maxAttempts: 2 })),
  })
  return { session: s, runs }
}

const lane = (name: string) => screen.getByRole('region', { name: new RegExp(`^Lane ${name}`) })
const card = (runId: string) => document.querySelector(`article[data-run-id="${runId}"]`) as HTMLElement

describe('Runboard', () => {
  it('shows runs in four lanes with kind, status, attempt, worker and cancel only where it applies', async () => {
    const { client, worker } = ctx
    const { session: s, runs } = await session(client, [
      ['build', 'A'],
      ['test', 'B'],
      ['lint', 'C'],
      ['deploy', 'D'],
    ])
    const [build, test] = runs as [(typeof runs)[0], (typeof runs)[0]]
    const user = userEvent.setup()
    render(<Runboard sessionId={s.id} />, { wrapper: providerFor(client) })
    expect(screen.getByRole('region', { name: 'Runboard' })).toBeTruthy()
    await waitFor(() => expect(within(lane('A')).getByText('build')).toBeTruthy())
    expect(within(lane('B')).getByText('test')).toBeTruthy()
    expect(within(lane('C')).getByText('lint')).toBeTruthy()
    expect(within(lane('D')).getByText('deploy')).toBeTruthy()
    expect(within(lane('A')).queryByText('test')).toBeNull()

    const [claimedBuild] = await worker.worker.claim({
      workerId: 'worker-ui',
      lanes: { A: 1 },
      kinds: ['build'],
    })
    const buildLease = claimedBuild?.lease as string
    await waitFor(() => expect(card(build.id).dataset.status).toBe('running'))
    expect(within(card(build.id)).getByText('worker-ui')).toBeTruthy()
    expect(within(card(build.id)).getByText('1/2')).toBeTruthy()
    await worker.worker.progress({
      workerId: 'worker-ui',
      updates: [{ id: build.id, lease: buildLease, progress: 0.4, message: 'compiling' }],
    })
    await waitFor(() => expect(within(card(build.id)).getByText('compiling')).toBeTruthy())
    expect((within(card(build.id)).getByRole('progressbar') as HTMLProgressElement).value).toBeCloseTo(0.4)

    // Cancel a queued run from the keyboard.
    const cancelTest = within(card(test.id)).getByRole('button', { name: /cancel test/i })
    cancelTest.focus()
    await user.keyboard('{Enter}')
    await waitFor(() => expect(card(test.id).dataset.status).toBe('cancelled'))
    expect(within(card(test.id)).queryByRole('button', { name: /cancel/i })).toBeNull()

    await worker.worker.complete({ workerId: 'worker-ui', results: [{ id: build.id, lease: buildLease }] })
    await waitFor(() => expect(card(build.id).dataset.status).toBe('succeeded'))
    expect(within(card(build.id)).queryByRole('button', { name: /cancel/i })).toBeNull()
    // The change was announced to assistive technology.
    await waitFor(() => expect(screen.getByRole('status').textContent).toMatch(/1 run succeeded/))
  })
})

describe('Runboard at size', () => {
  it('shows the database counts, not the loaded rows, and renders only the cards in view', async () => {
    const { client, worker } = ctx
    const s = await client.sessions.create({ name: 'big board' })
    await client.runs.enqueue({
      sessionId: s.id,
      runs: Array.from({ length: 400 }, (_, i) => ({
        kind: 'big',
        lane: i % 8 === 0 ? ('B' as const) : ('A' as const),
      })),
    })
    const claimed = await worker.worker.claim({ workerId: 'w-big', lanes: { A: 30 }, kinds: ['big'] })
    await worker.worker.complete({
      workerId: 'w-big',
      results: claimed.map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    render(<Runboard sessionId={s.id} pageSize={25} />, { wrapper: providerFor(client) })
    await waitFor(() => expect(lane('A').querySelector('.ocr-lane__count')?.textContent).toBe('(350)'))
    expect(lane('B').querySelector('.ocr-lane__count')?.textContent).toBe('(50)')
    const counts = screen.getByRole('list', { name: 'Runs by status' })
    expect(within(counts).getByText('370')).toBeTruthy()
    expect(within(counts).getByText('30')).toBeTruthy()
    // 25 loaded per lane, and only those in view (plus a few) exist in the DOM. The counts and the
    // first page are two requests: the page may arrive after the counts.
    await waitFor(() => expect(lane('A').querySelectorAll('article.ocr-run').length).toBeGreaterThan(0))
    expect(lane('A').querySelectorAll('article.ocr-run').length).toBeLessThanOrEqual(25)
  })
})

describe('RunDetails', () => {
  it('shows params, the structured error, a filterable event log and artifacts rendered safely', async () => {
    const { client, worker } = ctx
    const { runs } = await session(client, [['explode', 'B']])
    const run = runs[0]!
    const [claimed] = await worker.worker.claim({
      workerId: 'w-details',
      lanes: { B: 1 },
      kinds: ['explode'],
    })
    await worker.worker.appendEvents({
      events: [
        { runId: run.id, level: 'debug', message: 'noise at debug' },
        { runId: run.id, level: 'warn', message: 'disk almost full' },
      ],
    })
    await worker.worker.createArtifacts({
      artifacts: [
        {
          runId: run.id,
          name: 'report.md',
          kind: 'text',
          contentType: 'text/markdown',
          text: '# Report\n\n<script>window.pwned = true</script>\n\n[click](javascript:alert(1)) **bold**\n\n| step | ms |\n| --- | --: |\n| 1 | 40 |\n',
        },
      ],
    })
    await worker.worker.fail({
      workerId: 'w-details',
      failures: [
        {
          id: run.id,
          lease: claimed?.lease as string,
          retry: false,
          error: { type: 'DiskFull', message: 'no space left', context: { device: '/dev/sda1' } },
        },
      ],
    })
    const user = userEvent.setup()
    render(<RunDetails runId={run.id} />, { wrapper: providerFor(client) })
    const errorRegion = await screen.findByRole('region', { name: 'Error' })
    expect(within(errorRegion).getByText('DiskFull')).toBeTruthy()
    expect(within(errorRegion).getByText('no space left', { exact: false })).toBeTruthy()
    expect(within(errorRegion).getByText(/"device": "\/dev\/sda1"/)).toBeTruthy()
    expect(screen.getByText(/"n": 1/)).toBeTruthy()

    await waitFor(() => expect(screen.getByText('noise at debug')).toBeTruthy())
    expect(screen.getByText('disk almost full')).toBeTruthy()
    await user.click(screen.getByRole('checkbox', { name: 'debug' }))
    expect(screen.queryByText('noise at debug')).toBeNull()
    expect(screen.getByText('disk almost full')).toBeTruthy()

    // The only artifact opens by itself; markdown is rendered, raw HTML and javascript: links are not.
    const viewer = await waitFor(() => {
      const figure = document.querySelector('figure.ocr-artifact') as HTMLElement
      expect(figure).toBeTruthy()
      return figure
    })
    await waitFor(() => expect(within(viewer).getByRole('heading', { name: 'Report' })).toBeTruthy())
    expect(within(viewer).getByText('bold').tagName).toBe('STRONG')
    expect(within(viewer).getByRole('columnheader', { name: 'ms' })).toBeTruthy()
    expect(within(viewer).getByRole('cell', { name: '40' })).toBeTruthy()
    expect(viewer.querySelector('script')).toBeNull()
    expect((globalThis as { pwned?: boolean }).pwned).toBeUndefined()
    expect(within(viewer).getByText(/<script>/)).toBeTruthy()
    expect(viewer.querySelector('a[href^="javascript"]')).toBeNull()
    expect(
      within(viewer)
        .getByRole('link', { name: /download report.md/i })
        .getAttribute('href'),
    ).toMatch(/^data:text\/markdown/)
    expect(screen.getByRole('button', { name: /download all \(1\) as zip/i })).toBeTruthy()
  })
})

describe('EnqueueForm', () => {
  it('validates params against the template schema, then enqueues a new session spread over the lanes', async () => {
    const { client } = ctx
    await client.templates.create({
      name: 'form-sleep',
      kind: 'sleep',
      lane: 'B',
      defaultParams: { seconds: 1 },
      paramsSchema: {
        type: 'object',
        properties: {
          seconds: { type: 'integer', minimum: 1, maximum: 60, description: 'how long to sleep' },
          note: { type: 'string' },
          mode: { type: 'string', enum: ['fast', 'slow'] },
        },
        required: ['seconds'],
      },
    })
    const user = userEvent.setup()
    const enqueued: { sessionId: string; n: number }[] = []
    render(
      <>
        <SessionList />
        <EnqueueForm
          onEnqueued={({ session, runs }) => enqueued.push({ sessionId: session!.id, n: runs.length })}
        />
      </>,
      { wrapper: providerFor(client) },
    )
    const seconds = await screen.findByRole('spinbutton', { name: /seconds/ })
    await waitFor(() => expect((seconds as HTMLInputElement).value).toBe('1'))
    await user.selectOptions(screen.getByRole('combobox', { name: 'Template' }), 'form-sleep')
    await user.clear(seconds)
    await user.type(seconds, '0')
    await user.click(screen.getByRole('button', { name: 'Enqueue' }))
    await waitFor(() => expect(seconds.getAttribute('aria-invalid')).toBe('true'))
    expect(
      document.getElementById(seconds.getAttribute('aria-describedby')!.split(' ').at(-1)!)?.textContent,
    ).toMatch(/1|minimum/)
    expect(enqueued).toEqual([])

    await user.clear(seconds)
    await user.type(seconds, '2')
    await user.type(screen.getByRole('textbox', { name: 'Session name' }), 'from the form')
    await user.clear(screen.getByRole('spinbutton', { name: 'Runs' }))
    await user.type(screen.getByRole('spinbutton', { name: 'Runs' }), '8')
    await user.click(screen.getByRole('button', { name: 'Enqueue' }))
    await waitFor(() => expect(enqueued).toHaveLength(1))
    expect(screen.getByText(/Enqueued 8 runs in from the form/)).toBeTruthy()
    const runs = await client.runs.list({ sessionId: enqueued[0]!.sessionId })
    expect(runs.map((r) => r.lane).sort()).toEqual(['A', 'A', 'B', 'B', 'C', 'C', 'D', 'D'])
    expect(runs.every((r) => r.params.seconds === 2 && r.templateName === 'form-sleep')).toBe(true)
    // The session list shows the new session without a reload.
    await waitFor(() =>
      expect(screen.getByRole('navigation', { name: 'Sessions' }).textContent).toContain('from the form'),
    )
  })
})

describe('SessionList', () => {
  it('pages by cursor through sessions created in the same instant, each once', async () => {
    const { client, db } = ctx
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    try {
      await sql`insert into ops.sessions (name) select 'batch ' || g from generate_series(1, 11) g`
    } finally {
      await sql.end()
    }
    // Newer than the batch: the unfiltered first page is not all batch sessions.
    await client.sessions.create({ name: 'a newer unrelated one' })
    const user = userEvent.setup()
    render(<SessionList limit={4} />, { wrapper: providerFor(client) })
    const nav = await screen.findByRole('navigation', { name: 'Sessions' })
    // One change (typing letter by letter on a loaded machine may apply "batc" first, then "batch").
    await user.click(within(nav).getByRole('searchbox', { name: 'Search sessions' }))
    await user.paste('batch')
    const names = () => [...nav.querySelectorAll('.ocr-sessions__name')].map((n) => n.textContent)
    await waitFor(() => expect(names().filter((n) => n?.startsWith('batch '))).toHaveLength(4), {
      timeout: 5000,
    })
    expect(names()).toHaveLength(4)
    await user.click(within(nav).getByRole('button', { name: 'Show more sessions' }))
    await waitFor(() => expect(names()).toHaveLength(8), { timeout: 5000 })
    await user.click(within(nav).getByRole('button', { name: 'Show more sessions' }))
    await waitFor(() => expect(names()).toHaveLength(11), { timeout: 5000 })
    expect(new Set(names()).size).toBe(11)
    expect(within(nav).queryByRole('button', { name: 'Show more sessions' })).toBeNull()
  })
})
