import { CancelledError, type Run, TimeoutError } from '@ops-control-room/core'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineHandler } from './defineHandler'
import { executeRun } from './executeRun'
import type { HandlerContext } from './types'

const run = { id: 'r1', lease: '1', params: {}, timeoutSeconds: null, attempt: 1 } as unknown as Run

/** Runs a handler that waits at a gate, then reads its signal; `before` reads it at once too. */
function start(before: boolean) {
  let open!: () => void
  const gate = new Promise<void>((r) => {
    open = r
  })
  const seen: { early?: AbortSignal; late?: AbortSignal; events: string[] } = { events: [] }
  const handler = defineHandler({
    kind: 'gated',
    input: z.object({}).passthrough(),
    run: async (ctx) => {
      if (before) {
        seen.early = ctx.signal
        ctx.signal.addEventListener('abort', () => seen.events.push('abort'))
      }
      await gate
      seen.late = ctx.signal
      return 'done'
    },
  })
  const execution = executeRun({
    run,
    handler,
    abortGraceMs: 60_000,
    context: (signal, params) =>
      ({
        params,
        run,
        get signal() {
          return signal()
        },
      }) as HandlerContext,
    onAbandoned: () => {},
  })
  return { execution, open, seen }
}

describe('executeRun', () => {
  it('aborts a signal the handler already holds, with the reason', async () => {
    const { execution, open, seen } = start(true)
    execution.abort('timeout')
    expect(seen.events).toEqual(['abort'])
    expect(seen.early?.reason).toBeInstanceOf(TimeoutError)
    open()
    expect((await execution.done).type).toBe('failed')
    expect(seen.late).toBe(seen.early)
  })

  it('gives a handler that first reads its signal after an abort an aborted one, with the reason', async () => {
    const { execution, open, seen } = start(false)
    execution.abort('cancel')
    open()
    expect(await execution.done).toEqual({ type: 'cancelled' })
    expect(seen.late?.aborted).toBe(true)
    expect(seen.late?.reason).toBeInstanceOf(CancelledError)
  })

  it('leaves the signal of a run nobody aborts alone', async () => {
    const { execution, open, seen } = start(false)
    open()
    expect(await execution.done).toEqual({ type: 'succeeded', result: 'done' })
    expect(seen.late?.aborted).toBe(false)
  })
})
