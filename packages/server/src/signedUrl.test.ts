import { describe, expect, it } from 'vitest'
import { encodeStoragePath, type SignedGrant, signGrant, verifyGrant } from './signedUrl'

describe('signed grants', () => {
  const grant: SignedGrant = {
    op: 'put',
    storagePath: 'r/u/a b.txt',
    expires: 2_000_000_000,
    maxSize: 10,
    label: 'text/plain',
  }

  it('verifies its own signature and no change of any field', () => {
    const sig = signGrant('k', grant)
    expect(verifyGrant('k', grant, sig)).toBe(true)
    expect(verifyGrant('other', grant, sig)).toBe(false)
    for (const changed of [
      { ...grant, op: 'get' as const },
      { ...grant, storagePath: 'r/u/b.txt' },
      { ...grant, expires: grant.expires + 1 },
      { ...grant, maxSize: 11 },
      { ...grant, maxSize: undefined },
      { ...grant, label: 'text/html' },
    ]) {
      expect(verifyGrant('k', changed, sig)).toBe(false)
    }
    expect(verifyGrant('k', grant, `${sig}x`)).toBe(false)
    expect(verifyGrant('k', grant, '')).toBe(false)
  })

  it('signs an unambiguous encoding: a newline in a field cannot make a signature fit another grant', () => {
    // Joined with "\n", both read "get\np\n9\n1\n\nx": a signature for one was valid for the other.
    const a: SignedGrant = { op: 'get', storagePath: 'p\n9', expires: 1, label: 'x' }
    const b: SignedGrant = { op: 'get', storagePath: 'p', expires: 9, maxSize: 1, label: '\nx' }
    expect(verifyGrant('k', b, signGrant('k', a))).toBe(false)
  })

  it('encodes storage paths segment by segment', () => {
    expect(encodeStoragePath('r/u/a b?.txt')).toBe('r/u/a%20b%3F.txt')
  })
})
