import type { HeldRun, Lane } from '@ops-control-room/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startWaitRegistration } from './waitRegistration'

describe('startWaitRegistration', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  function setup(answers: (readonly HeldRun[])[] = []) {
    const sent: Record<Lane, number>[] = []
    const handed: HeldRun[][] = []
    const errors: Error[] = []
    let fail: Error | undefined
    const reg = startWaitRegistration({
      lanes: ['A', 'B'],
      refreshMs: 1000,
      send: async (slots) => {
        sent.push(slots)
        if (fail) throw fail
        return answers.shift() ?? []
      },
      onHanded: (runs) => handed.push([...runs]),
      onError: (e) => errors.push(e),
      isPermanent: (e) => e.message.includes('42883'),
    })
    return {
      reg,
      sent,
      handed,
      errors,
      failWith: (e: Error | undefined) => {
        fail = e
      },
    }
  }

  it('sends only what changes, one call at a time, and refreshes while it waits', async () => {
    const { reg, sent } = setup()
    reg.report({ A: 2 })
    reg.report({ A: 3 }) // while the first is in flight: sent after it, as one call
    reg.report({ A: 3 })
    await vi.advanceTimersByTimeAsync(0)
    expect(sent).toEqual([
      { A: 2, B: 0 },
      { A: 3, B: 0 },
    ])
    reg.report({ A: 3 })
    await vi.advanceTimersByTimeAsync(0)
    expect(sent).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(sent).toHaveLength(3) // the refresh
    reg.report({})
    await vi.advanceTimersByTimeAsync(0)
    expect(sent.at(-1)).toEqual({ A: 0, B: 0 })
    await vi.advanceTimersByTimeAsync(5000)
    expect(sent).toHaveLength(4) // waiting nowhere: nothing to refresh
    await reg.stop()
    expect(sent).toHaveLength(4) // the database already knows it waits nowhere
  })

  it('counts a handed run against its lane, passes each answer on, and says it waits nowhere on stop', async () => {
    const run = { id: '00000000-0000-4000-8000-000000000001', lease: '7' }
    const { reg, sent, handed } = setup([[], [run]])
    reg.report({ B: 2 })
    await vi.advanceTimersByTimeAsync(0)
    reg.handed('B') // the database now holds 1 for B
    reg.report({ B: 1 }) // and the worker agrees: nothing to send
    await vi.advanceTimersByTimeAsync(0)
    expect(sent).toEqual([{ A: 0, B: 2 }])
    reg.report({ B: 2 }) // the run finished
    await vi.advanceTimersByTimeAsync(0)
    expect(handed).toEqual([[run]])
    await reg.stop()
    expect(sent.at(-1)).toEqual({ A: 0, B: 0 })
  })

  it('retries a failed call with backoff, and gives up for good on a database without hand-off', async () => {
    const { reg, sent, errors, failWith } = setup()
    failWith(new Error('connection lost'))
    reg.report({ A: 1 })
    await vi.advanceTimersByTimeAsync(0)
    expect(errors).toHaveLength(1)
    reg.report({ A: 1 })
    await vi.advanceTimersByTimeAsync(0)
    expect(sent).toHaveLength(1) // backing off
    failWith(undefined)
    await vi.advanceTimersByTimeAsync(1000)
    expect(sent).toHaveLength(2)
    failWith(new Error('database error 42883: function ops.wait_for_runs does not exist'))
    reg.report({ A: 2 })
    await vi.advanceTimersByTimeAsync(0)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(sent).toHaveLength(3)
    await reg.stop()
    expect(sent).toHaveLength(3)
  })
})
