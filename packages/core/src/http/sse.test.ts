import { describe, expect, it } from 'vitest'
import { readServerSentEvents } from './sse'

const streamOf = (...parts: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(new TextEncoder().encode(p))
      controller.close()
    },
  })

async function collect(stream: ReadableStream<Uint8Array>) {
  const out = []
  for await (const e of readServerSentEvents(stream)) out.push(e)
  return out
}

describe('readServerSentEvents', () => {
  it('parses ids, event names, multi-line data and comments, across chunk boundaries and CRLF', async () => {
    const events = await collect(
      streamOf(
        ': hello\n\nid: a-1\nev',
        'ent: change\ndata: {"x"',
        ':1}\n\n',
        'data: one\r\ndata: two\r\n\r\n',
        'id: a-2\nevent: reset\ndata: {}\n\n',
      ),
    )
    expect(events).toEqual([
      { id: 'a-1', event: 'change', data: '{"x":1}' },
      { id: 'a-1', event: 'message', data: 'one\ntwo' },
      { id: 'a-2', event: 'reset', data: '{}' },
    ])
  })

  it('keeps CRLF split across two chunks one line ending: `event: reset` stays a reset', async () => {
    const events = await collect(streamOf('id: 7\r\nevent: reset\r', '\ndata: {}\r\n\r', '\n'))
    expect(events).toEqual([{ id: '7', event: 'reset', data: '{}' }])
  })

  it('ignores unknown fields and ends the stream with an error on an endless line', async () => {
    expect(await collect(streamOf('foo: bar\ndata: x\n\n'))).toEqual([
      { id: undefined, event: 'message', data: 'x' },
    ])
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new TextEncoder().encode(`data: ${'x'.repeat(64 * 1024)}`))
      },
    })
    await expect(collect(endless)).rejects.toThrow(/buffer/i)
  })

  it('splits a multi-byte character across chunks correctly', async () => {
    const bytes = new TextEncoder().encode('data: é\n\n')
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.subarray(0, 7))
        c.enqueue(bytes.subarray(7))
        c.close()
      },
    })
    expect(await collect(stream)).toEqual([{ id: undefined, event: 'message', data: 'é' }])
  })
})
