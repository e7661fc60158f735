import { createHmac, timingSafeEqual } from 'node:crypto'

/** What a signed artifact-content URL grants: one operation on one path until `expires` (unix s). */
export interface SignedGrant {
  op: 'put' | 'get'
  storagePath: string
  expires: number
  /** put: the largest body allowed. */
  maxSize?: number
  /** put: the content type stored; get: the file name offered. */
  label?: string
}

// A JSON array: every field is quoted and escaped, so no value (a name with a newline in it) can
// shift into the next field. Joining with "\n" let a path's signature validate another path.
const canonical = (g: SignedGrant) =>
  JSON.stringify(['ops-artifact-grant/2', g.op, g.storagePath, g.expires, g.maxSize ?? null, g.label ?? null])

/** HMAC-SHA256 over every field of the grant: changing any of them (or the path) breaks the signature. */
export function signGrant(secret: string, grant: SignedGrant): string {
  return createHmac('sha256', secret).update(canonical(grant)).digest('base64url')
}

/** Constant-time check of a signature. Expiry is checked separately, so errors can say which failed. */
export function verifyGrant(secret: string, grant: SignedGrant, signature: string): boolean {
  const expected = Buffer.from(signGrant(secret, grant))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** Encodes a storage path for a URL, segment by segment. */
export function encodeStoragePath(storagePath: string): string {
  return storagePath.split('/').map(encodeURIComponent).join('/')
}
