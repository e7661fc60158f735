import { describe, expect, it } from 'vitest'
import { findProtoKey } from './validate'

describe('findProtoKey', () => {
  it('names the first own __proto__ key anywhere, through objects and arrays', () => {
    expect(findProtoKey(JSON.parse('{"__proto__": 1}'))).toBe('__proto__')
    expect(
      findProtoKey(JSON.parse('{"results": [{"id": "a"}, {"result": {"x": [1, {"__proto__": {}}]}}]}')),
    ).toBe('results[1].result.x[1].__proto__')
    expect(findProtoKey([[JSON.parse('{"__proto__": null}')]])).toBe('[0][0].__proto__')
  })

  it('finds nothing in clean input, nor in an inherited or a non-enumerable key', () => {
    expect(findProtoKey({ a: [{ b: { c: null } }], d: 'x' })).toBeUndefined()
    expect(findProtoKey(null)).toBeUndefined()
    expect(findProtoKey('__proto__')).toBeUndefined()
    const inherited = Object.create({ inner: JSON.parse('{"__proto__": 1}') }) as object
    expect(findProtoKey({ inherited })).toBeUndefined()
  })

  it('walks deep input without overflowing the stack', () => {
    let deep: unknown = JSON.parse('{"__proto__": 1}')
    for (let i = 0; i < 20_000; i++) deep = { n: deep }
    expect(findProtoKey(deep)).toMatch(/^(n\.){20000}__proto__$/)
  })
})
