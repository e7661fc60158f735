import type * as NodeCrypto from 'node:crypto'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'

/**
 * An incremental SHA-256, for hashing an upload while it streams (flat memory for any size): Web
 * Crypto only digests whole buffers. Internal to the package (the artifact stores use it).
 */
export interface Sha256 {
  update(data: Uint8Array): void
  /** Lowercase hex. The hash cannot be updated afterwards. */
  hex(): string
}

// Node's (and Deno's) OpenSSL hash where there is one, about seven times faster than JavaScript.
// `getBuiltinModule` is no import: browser bundlers never see node:crypto, and there @noble/hashes
// (audited, streaming) does the work.
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined

export function createSha256(): Sha256 {
  let done = false
  const guard = () => {
    if (done) throw new TypeError('sha256: update() after hex()')
  }
  if (nodeCrypto) {
    const hash = nodeCrypto.createHash('sha256')
    return {
      update(data) {
        guard()
        hash.update(data)
      },
      hex() {
        guard()
        done = true
        return hash.digest('hex')
      },
    }
  }
  return createPortableSha256()
}

/** The JavaScript implementation, used where node:crypto is missing (browsers). */
export function createPortableSha256(): Sha256 {
  const hash = sha256.create()
  let done = false
  return {
    update(data) {
      if (done) throw new TypeError('sha256: update() after hex()')
      hash.update(data)
    },
    hex() {
      if (done) throw new TypeError('sha256: update() after hex()')
      done = true
      return bytesToHex(hash.digest())
    },
  }
}
