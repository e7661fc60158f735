import { describe, expect, it } from 'vitest'
import { defaultGenerator } from './defaultGenerator'

const signal = new AbortController().signal

describe('defaultGenerator', () => {
  it('renders the four documents with their sections, the inputs in place', async () => {
    const docs = await defaultGenerator.generate(
      {
        feature: 'billing-export',
        title: 'Billing export',
        summary: 'Export invoices as CSV. Monthly.',
        given: {},
      },
      { signal },
    )
    expect(docs.constitution).toMatch(/^# Constitution: Billing export\n/)
    expect(docs.constitution).toContain('## Principles')
    expect(docs.prd).toMatch(/^# PRD: Billing export\n/)
    for (const section of ['## Summary', '## Goals', '## Non-goals', '## Requirements'])
      expect(docs.prd).toContain(section)
    expect(docs.prd).toContain('- Export invoices as CSV.\n')
    expect(docs.plan).toContain('## Milestones')
    expect(docs.tasks).toMatch(/- \[ \] T1: .*billing-export/)
    for (const d of Object.values(docs)) {
      expect(d).toContain('Billing export')
      expect(d).not.toMatch(/TODO|TBD|lorem|\{\{/i)
      expect(d.endsWith('\n')).toBe(true)
    }
  })

  it('keeps given documents as written and stops on an aborted signal', async () => {
    const docs = await defaultGenerator.generate(
      { feature: 'x', title: 'X', summary: '', given: { plan: '# Mine' } },
      { signal },
    )
    expect(docs.plan).toBe('# Mine\n')
    const aborted = AbortSignal.abort(new Error('stop'))
    await expect(
      Promise.resolve().then(() =>
        defaultGenerator.generate({ feature: 'x', title: 'X', summary: '', given: {} }, { signal: aborted }),
      ),
    ).rejects.toThrow('stop')
  })
})
