/** A token bucket's shape: a sustained rate and a burst. */
export interface RateLimit {
  /** Requests per second, sustained. */
  perSecond: number
  /** Requests allowed at once above the rate (the bucket's size). */
  burst: number
}

/** The server's request limits; `false` turns one (or both) off. */
export interface RateLimitOptions {
  /** Per client address. Default 100/s, burst 200. */
  perAddress?: RateLimit | false
  /** Per bearer token (every holder of one token shares it). Default 200/s, burst 400. */
  perToken?: RateLimit | false
  /** Most addresses and tokens remembered at once (the least recently seen are forgotten). Default 10 000. */
  maxKeys?: number
}

export const DEFAULT_PER_ADDRESS: RateLimit = { perSecond: 100, burst: 200 }
export const DEFAULT_PER_TOKEN: RateLimit = { perSecond: 200, burst: 400 }

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets keyed by a string, in a bounded map: memory stays bounded whatever keys clients
 * invent (a flood of made-up tokens forgets the least recently seen, and is caught by the per-address
 * bucket anyway).
 */
function createBuckets(limit: RateLimit, maxKeys: number) {
  const buckets = new Map<string, Bucket>()
  return {
    /** 0 when a request may pass now (and takes a token), else the seconds until one may. */
    take(key: string, now: number): number {
      let b = buckets.get(key)
      if (b) buckets.delete(key)
      else {
        b = { tokens: limit.burst, at: now }
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string)
      }
      buckets.set(key, b)
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond)
      b.at = now
      if (b.tokens >= 1) {
        b.tokens -= 1
        return 0
      }
      return (1 - b.tokens) / limit.perSecond
    },
  }
}

/**
 * Per-address and per-token rate limits. `check` answers how long the caller must wait (0: go on).
 */
export function createRateLimiter(options: RateLimitOptions = {}) {
  const maxKeys = options.maxKeys ?? 10_000
  const perAddress =
    options.perAddress === false
      ? undefined
      : createBuckets(options.perAddress ?? DEFAULT_PER_ADDRESS, maxKeys)
  const perToken =
    options.perToken === false ? undefined : createBuckets(options.perToken ?? DEFAULT_PER_TOKEN, maxKeys)
  return {
    check(address: string, authorization: string | undefined, now = Date.now()): number {
      const a = perAddress?.take(address, now) ?? 0
      if (a > 0) return a
      // Only a bounded prefix of the header is kept as a key: a 16 KiB header is not 16 KiB of memory.
      return authorization && perToken ? perToken.take(authorization.slice(0, 2048), now) : 0
    },
  }
}
