import { SpecKitForm } from '@ops-control-room/react'
import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { providerFor, setupDatabase } from './helpers'

let ctx: Awaited<ReturnType<typeof setupDatabase>>
beforeAll(async () => {
  ctx = await setupDatabase()
})
afterAll(() => ctx.teardown())

describe('SpecKitForm', () => {
  it('refuses a feature that is not a slug without enqueueing, then enqueues spec_kit_generate with the fields given', async () => {
    const { client, worker } = ctx
    const user = userEvent.setup()
    const enqueued: string[] = []
    render(<SpecKitForm repos={['default', 'docs']} onEnqueued={({ run }) => enqueued.push(run.id)} />, {
      wrapper: providerFor(client),
    })
    await user.type(screen.getByLabelText('Feature'), '../etc')
    await user.type(screen.getByLabelText('Title'), 'Billing export')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    expect(screen.getByLabelText('Feature').getAttribute('aria-invalid')).toBe('true')
    expect(screen.getByRole('status').textContent).toContain('Fix the highlighted fields')
    expect(enqueued).toEqual([])

    await user.clear(screen.getByLabelText('Feature'))
    await user.type(screen.getByLabelText('Feature'), 'billing-export')
    await user.type(screen.getByLabelText('Summary'), 'Export invoices as CSV.')
    await user.type(screen.getByLabelText('PRD'), '# My PRD')
    await user.selectOptions(screen.getByLabelText('Repository'), 'docs')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    await waitFor(() => expect(enqueued).toHaveLength(1))
    const run = await client.runs.get(enqueued[0] as string)
    expect(run).toMatchObject({ kind: 'spec_kit_generate', lane: 'C', maxAttempts: 3 })
    expect(run.params).toEqual({
      feature: 'billing-export',
      title: 'Billing export',
      summary: 'Export invoices as CSV.',
      prd: '# My PRD',
      repo: 'docs',
      push: true,
      openPullRequest: false,
    })

    // A worker finishes it: the commit appears, linked to the repository's web page.
    const outcome = () => screen.getByRole('region', { name: 'Spec Kit run' })
    const [claimed] = await worker.worker.claim({
      workerId: 'w-spec',
      lanes: { C: 1 },
      kinds: ['spec_kit_generate'],
    })
    const sha = 'a'.repeat(40)
    await worker.worker.complete({
      workerId: 'w-spec',
      results: [
        {
          id: run.id,
          lease: claimed?.lease as string,
          result: {
            sha,
            branch: 'spec-kit/billing-export',
            remote: '/srv/specs.git',
            committed: true,
            commitUrl: `https://git.example/commit/${sha}`,
            files: [],
          },
        },
      ],
    })
    await waitFor(() => expect(outcome().dataset.status).toBe('succeeded'))
    const link = within(outcome()).getByRole('link', { name: sha.slice(0, 12) })
    expect(link.getAttribute('href')).toBe(`https://git.example/commit/${sha}`)
    expect(within(outcome()).getByText('spec-kit/billing-export')).toBeTruthy()
  })

  it('shows a failed run’s error', async () => {
    const { client, worker } = ctx
    const user = userEvent.setup()
    const session = await client.sessions.create({ name: 'spec' })
    render(<SpecKitForm sessionId={session.id} lane="D" />, { wrapper: providerFor(client) })
    await user.type(screen.getByLabelText('Feature'), 'x')
    await user.type(screen.getByLabelText('Title'), 'X')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    const outcome = await screen.findByRole('region', { name: 'Spec Kit run' })
    const runId = outcome.dataset.runId as string
    const [claimed] = await worker.worker.claim({
      workerId: 'w-spec2',
      lanes: { D: 1 },
      kinds: ['spec_kit_generate'],
    })
    await worker.worker.fail({
      workerId: 'w-spec2',
      failures: [
        {
          id: runId,
          lease: claimed?.lease as string,
          error: { type: 'unsafe_path', message: 'spec is a symlink' },
          retry: false,
        },
      ],
    })
    await waitFor(() =>
      expect(within(outcome).getByRole('alert').textContent).toContain('unsafe_path: spec is a symlink'),
    )
  })
})
