import { createHash, randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPortableSha256, createSha256 } from './sha256'

describe.each([
  ['createSha256 (node:crypto here)', createSha256],
  ['createPortableSha256 (the browser path)', createPortableSha256],
])('%s', (_name, createSha256) => {
  it('matches node:crypto for any content split into any chunks', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(300), { maxLength: 20 }),
        (bytes, cuts) => {
          const hash = createSha256()
          let at = 0
          for (const cut of cuts) {
            hash.update(bytes.subarray(at, Math.min(bytes.length, at + cut)))
            at = Math.min(bytes.length, at + cut)
          }
          hash.update(bytes.subarray(at))
          expect(hash.hex()).toBe(createHash('sha256').update(bytes).digest('hex'))
        },
      ),
    )
  })

  it('handles the padding edge cases (55, 56, 63, 64 bytes) and the empty input', () => {
    for (const n of [0, 55, 56, 63, 64, 65, 119, 120]) {
      const bytes = randomBytes(n)
      const hash = createSha256()
      hash.update(bytes)
      expect(hash.hex()).toBe(createHash('sha256').update(bytes).digest('hex'))
    }
  })

  it('refuses updates after hex()', () => {
    const hash = createSha256()
    hash.hex()
    expect(() => hash.update(new Uint8Array(1))).toThrow(TypeError)
  })
})
