/**
 * Params must never hold secrets: they are stored in plain text, shown in the Runboard and read by
 * anyone allowed to read runs. These rules mirror `ops.find_secret` in the migrations, which enforces
 * them in the database for every writer; checking here too rejects bad input before any I/O.
 */

// Key names are matched as whole words after splitting camelCase, so `dbPassword` and `api_key` are
// flagged while `max_tokens` or `tokenizer` are not. Only non-empty string values count for keys.
const SECRET_KEY =
  /(^|[_. -])(password|passwd|secret|token|credentials?|authorization|apikey|api_key|access_key|private_key)($|[_. -])/

// Values are matched by the shape of well-known credentials, whatever their key. Values come from
// clients, so every rule is a hand-written scan that takes time linear in the value's length: a
// backtracking regular expression (`/eyJ[…]{5,}\.[…]{5,}\./`) is quadratic on `"eyJ"` repeated, and
// one anonymous request could freeze the event loop. `ops.find_secret` in SQL states the same rules
// as regular expressions (PostgreSQL's engine does not backtrack like V8's); the fixture test keeps
// the two in agreement.

const code = (s: string, i: number): number => s.charCodeAt(i)
const isUpper = (c: number) => c >= 65 && c <= 90
const isLower = (c: number) => c >= 97 && c <= 122
const isDigit = (c: number) => c >= 48 && c <= 57
const isAlnum = (c: number) => isUpper(c) || isLower(c) || isDigit(c)
const isB64Url = (c: number) => isAlnum(c) || c === 95 /* _ */ || c === 45 /* - */
const isAlnumUnderscore = (c: number) => isAlnum(c) || c === 95
const isAlnumDash = (c: number) => isAlnum(c) || c === 45
const isUpperOrSpace = (c: number) => isUpper(c) || c === 32
const isUpperOrDigit = (c: number) => isUpper(c) || isDigit(c)
// JavaScript's \s, which is what the regular expressions of this module used to mean.
const isSpace = (c: number) =>
  c === 32 ||
  (c >= 9 && c <= 13) ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff

/** End (exclusive) of the run of `cls` characters starting at `from`, scanning at most `max` of them. */
function runEnd(
  s: string,
  from: number,
  cls: (c: number) => boolean,
  max = Number.POSITIVE_INFINITY,
): number {
  let i = from
  const stop = Math.min(s.length, from + max)
  while (i < stop && cls(code(s, i))) i++
  return i
}

/**
 * Whether `s` contains `stem` (after one of the characters `before`, if given), then one of `variants` (a character, or '' for none), then `sep`,
 * followed by at least `min` characters of `cls`. Linear: `stem` is searched once, a run is scanned
 * once, and a prefix found inside a run already scanned reuses that run's end.
 */
function prefixThenRun(
  s: string,
  stem: string,
  variants: string,
  sep: string,
  cls: (c: number) => boolean,
  min: number,
  before = '',
): boolean {
  let known = -1 // start of the last scanned run…
  let knownEnd = -1 // …and its end
  const width = variants === '' ? 0 : 1
  for (let i = s.indexOf(stem); i !== -1; i = s.indexOf(stem, i + 1)) {
    if (before !== '' && (i === 0 || !before.includes(s[i - 1] as string))) continue
    let at = i + stem.length
    if (width === 1) {
      if (at >= s.length || !variants.includes(s[at] as string)) continue
      at++
    }
    if (sep !== '' && !s.startsWith(sep, at)) continue
    const from = at + sep.length
    const reuse = from >= known && from <= knownEnd
    const end = reuse ? knownEnd : runEnd(s, from, cls)
    if (!reuse) {
      known = from
      knownEnd = end
    }
    if (end - from >= min) return true
  }
  return false
}

/** `^bearer\s+\S{8,}` (case-insensitive). */
function bearer(s: string): boolean {
  if (s.length < 15 || s.slice(0, 6).toLowerCase() !== 'bearer') return false
  const after = runEnd(s, 6, isSpace)
  if (after === 6) return false
  return runEnd(s, after, (c) => !isSpace(c), 8) - after >= 8
}

/** `eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.`: a JWT's header and payload. */
function jwt(s: string): boolean {
  // The class excludes '.', so each run is maximal and the dot after it is forced: for every "eyJ"
  // inside one run the answer is the same, so each run is looked at once.
  let checkedRunEnd = -1
  for (let i = s.indexOf('eyJ'); i !== -1; i = s.indexOf('eyJ', i + 1)) {
    const from = i + 3
    if (from <= checkedRunEnd) continue
    const end1 = runEnd(s, from, isB64Url)
    checkedRunEnd = end1
    if (end1 - from < 5 || code(s, end1) !== 46) continue
    const end2 = runEnd(s, end1 + 1, isB64Url)
    if (end2 - (end1 + 1) >= 5 && code(s, end2) === 46) return true
  }
  return false
}

/** `(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})`. */
function github(s: string): boolean {
  return (
    prefixThenRun(s, 'gh', 'pousr', '_', isAlnum, 30) ||
    prefixThenRun(s, 'github_pat_', '', '', isAlnumUnderscore, 30)
  )
}

/** `[sr]k_(live|test)_[A-Za-z0-9]{10,}`. */
function stripe(s: string): boolean {
  return (
    prefixThenRun(s, 'k_live_', '', '', isAlnum, 10, 'sr') ||
    prefixThenRun(s, 'k_test_', '', '', isAlnum, 10, 'sr')
  )
}

/** `(AKIA|ASIA)[0-9A-Z]{16}`. */
function awsKeyId(s: string): boolean {
  return prefixThenRun(s, 'A', 'KS', 'IA', isUpperOrDigit, 16)
}

/** `xox[baprs]-[A-Za-z0-9-]{10,}`. */
function slack(s: string): boolean {
  return prefixThenRun(s, 'xox', 'baprs', '-', isAlnumDash, 10)
}

/** `-----BEGIN [A-Z ]*PRIVATE KEY-----`. */
function privateKey(s: string): boolean {
  const head = '-----BEGIN '
  const tail = 'PRIVATE KEY'
  for (let i = s.indexOf(head); i !== -1; i = s.indexOf(head, i + 1)) {
    const from = i + head.length
    // "PRIVATE KEY" is itself made of [A-Z ], so it must end the run, and "-----" follow it.
    const end = runEnd(s, from, isUpperOrSpace)
    if (end - from >= tail.length && s.startsWith(`${tail}-----`, end - tail.length)) return true
  }
  return false
}

/** `[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{1,255}:[^/\s@]{1,255}@` (case-insensitive): a password in a URL. */
function urlWithPassword(s: string): boolean {
  const isSchemeChar = (c: number) => isAlnum(c) || c === 43 || c === 46 || c === 45
  for (let i = s.indexOf('://'); i !== -1; i = s.indexOf('://', i + 1)) {
    // A scheme: up to 32 scheme characters before "://", the first of them a letter.
    let scheme = false
    for (let j = i - 1; j >= 0 && j >= i - 32 && isSchemeChar(code(s, j)); j--) {
      const c = code(s, j)
      if (isUpper(c) || isLower(c)) {
        scheme = true
        break
      }
    }
    if (!scheme) continue
    // Each part excludes the character that ends it, so each is the maximal run (at most 255).
    const userFrom = i + 3
    const userEnd = runEnd(s, userFrom, (c) => c !== 47 && c !== 58 && c !== 64 && !isSpace(c), 256)
    if (userEnd === userFrom || userEnd - userFrom > 255 || code(s, userEnd) !== 58) continue
    const passFrom = userEnd + 1
    const passEnd = runEnd(s, passFrom, (c) => c !== 47 && c !== 64 && !isSpace(c), 256)
    if (passEnd > passFrom && passEnd - passFrom <= 255 && code(s, passEnd) === 64) return true
  }
  return false
}

const SECRET_VALUES: readonly ((s: string) => boolean)[] = [
  bearer,
  jwt,
  github,
  stripe,
  awsKeyId,
  slack,
  privateKey,
  urlWithPassword,
]

function keyLooksSecret(key: string): boolean {
  return SECRET_KEY.test(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase())
}

/** Whether a string value has the shape of a credential. */
export function valueLooksSecret(value: string): boolean {
  return SECRET_VALUES.some((looksSecret) => looksSecret(value))
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
