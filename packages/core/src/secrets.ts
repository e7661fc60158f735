/**
 * Params must never hold secrets: they are stored in plain text, shown in the Runboard and read by
 * anyone allowed to read runs. These rules mirror `ops.find_secret` in the migrations, which enforces
 * them in the database for every writer; checking here too rejects bad input before any I/O.
 */

// Key names are matched as whole words after splitting camelCase, so `dbPassword` and `api_key` are
// flagged while `max_tokens` or `tokenizer` are not. Only non-empty string values count for keys.
const SECRET_KEY =
  /(^|[_. -])(password|passwd|secret|token|credentials?|authorization|apikey|api_key|access_key|private_key)($|[_. -])/

// Values are matched by the shape of well-known credentials, whatever their key.
const SECRET_VALUES: readonly RegExp[] = [
  /^bearer\s+\S{8,}/i,
  /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\./, // a JWT
  /(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/, // GitHub tokens
  /[sr]k_(live|test)_[A-Za-z0-9]{10,}/, // Stripe keys
  /(AKIA|ASIA)[0-9A-Z]{16}/, // AWS access key ids
  /xox[baprs]-[A-Za-z0-9-]{10,}/, // Slack tokens
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  // A URL with a password in it. Bounded repeats keep the match linear on long strings (no ReDoS).
  /[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{1,255}:[^/\s@]{1,255}@/i,
]

function keyLooksSecret(key: string): boolean {
  return SECRET_KEY.test(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase())
}

/** Whether a string value has the shape of a credential. */
export function valueLooksSecret(value: string): boolean {
  return SECRET_VALUES.some((re) => re.test(value))
}

/**
 * The path (`params.db.password`, `params.hosts[2]`) of the first value in `value` that looks like a
 * credential, or undefined when there is none.
 */
export function findSecret(value: unknown, root = 'params'): string | undefined {
  const walk = (v: unknown, path: string, key: string | undefined): string | undefined => {
    if (typeof v === 'string') {
      if (key !== undefined && v !== '' && keyLooksSecret(key)) return path
      return valueLooksSecret(v) ? path : undefined
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const found = walk(v[i], `${path}[${i}]`, key)
        if (found) return found
      }
      return undefined
    }
    if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const found = walk(child, `${path}.${k}`, k)
        if (found) return found
      }
    }
    return undefined
  }
  return walk(value, root, undefined)
}
