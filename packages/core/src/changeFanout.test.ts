import { describe, expect, it } from 'vitest'
import { createChangeFanout } from './changeFanout'
import type { Change } from './contract'

const queued = (lane: 'A' | 'B'): Change => ({ type: 'queued', lane })

describe('createChangeFanout', () => {
  it('opens the source once for many listeners and closes it after the last leaves', async () => {
    const log: string[] = []
    let emit: ((c: Change) => void) | undefined
    const fanout = createChangeFanout({
      open: async (e) => {
        log.push('open')
        emit = e
        return 'handle'
      },
      close: async (h) => {
        log.push(`close ${h}`)
      },
    })
    const a: Change[] = []
    const b: Change[] = []
    const stopA = await fanout.subscribe((c) => a.push(c))
    const stopB = await fanout.subscribe((c) => {
      b.push(c)
      throw new Error('a faulty listener')
    })
    emit?.(queued('A'))
    expect([a, b]).toEqual([[queued('A')], [queued('A')]])
    await stopA()
    await stopA()
    expect(log).toEqual(['open'])
    await stopB()
    expect(log).toEqual(['open', 'close handle'])
    await fanout.subscribe(() => {})
    await fanout.closeAll()
    expect(log).toEqual(['open', 'close handle', 'open', 'close handle'])
  })

  it('forgets a source that failed to open, so the next subscribe tries again', async () => {
    let attempts = 0
    const fanout = createChangeFanout({
      open: async () => {
        attempts++
        if (attempts === 1) throw new Error('unreachable')
        return attempts
      },
      close: async () => {},
    })
    await expect(fanout.subscribe(() => {})).rejects.toThrow('unreachable')
    const stop = await fanout.subscribe(() => {})
    expect(attempts).toBe(2)
    await stop()
  })
})
