import { describe, expect, it } from 'vitest'
import { handlersFromModule } from './handlerModule'

const h = { kind: 'x', run: async () => 'ok' }

describe('handlersFromModule', () => {
  it('accepts a CommonJS module written as module.exports = { handlers }', async () => {
    const mod = await import(new URL('../../test/fixtures/handlers.cjs', import.meta.url).href)
    expect(handlersFromModule(mod)?.map((d) => d.kind)).toEqual(['cjs_noop'])
  })

  it('accepts default, handlers and handler exports, one or a list', () => {
    expect(handlersFromModule({ default: h })).toEqual([h])
    expect(handlersFromModule({ handlers: [h, h] })).toEqual([h, h])
    expect(handlersFromModule({ handler: h })).toEqual([h])
    expect(handlersFromModule({ default: { handler: h } })).toEqual([h])
  })

  it('refuses a module without handlers', () => {
    expect(handlersFromModule({})).toBeUndefined()
    expect(handlersFromModule({ default: { other: 1 } })).toBeUndefined()
    expect(handlersFromModule({ handlers: [] })).toBeUndefined()
    expect(handlersFromModule({ handlers: [h, { kind: 'no-run' }] })).toBeUndefined()
  })
})
