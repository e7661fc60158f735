/**
 * The value rules of the secret check: hand-written scanners, each linear in the value's length.
 * `ops.find_secret` in SQL states the same rules as regular expressions; the fixture
 * (`test/fixtures/secrets.json`) keeps the two in agreement.
 */

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

// ASCII character classes as bits of one table: runs are scanned with a mask, not a callback, which
// keeps the hot loops monomorphic (a third of the time on 1 MiB inputs).
const UP = 1
const LO = 2
const DI = 4
const US = 8 // _
const DA = 16 // -
const PL = 32 // +
const SL = 64 // /
const SP = 128 // ' '
const ALNUM = UP | LO | DI
const B64URL = ALNUM | US | DA
const CLASS = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  CLASS[c] =
    (isUpper(c) ? UP : 0) |
    (isLower(c) ? LO : 0) |
    (isDigit(c) ? DI : 0) |
    (c === 95 ? US : 0) |
    (c === 45 ? DA : 0) |
    (c === 43 ? PL : 0) |
    (c === 47 ? SL : 0) |
    (c === 32 ? SP : 0)
}

/** End (exclusive) of the run of characters in the class `mask` starting at `from` (at most `max` of them). */
function runEndIn(s: string, from: number, mask: number, max = Number.MAX_SAFE_INTEGER): number {
  let i = from
  const n = Math.min(s.length, from + max)
  while (i < n) {
    const c = s.charCodeAt(i)
    if (c >= 128 || ((CLASS[c] as number) & mask) === 0) break
    i++
  }
  return i
}
const inClass = (c: number, mask: number) => c < 128 && ((CLASS[c] as number) & mask) !== 0
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
  mask: number,
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
    const end = reuse ? knownEnd : runEndIn(s, from, mask)
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
    const end1 = runEndIn(s, from, B64URL)
    checkedRunEnd = end1
    if (end1 - from < 5 || code(s, end1) !== 46) continue
    const end2 = runEndIn(s, end1 + 1, B64URL)
    if (end2 - (end1 + 1) >= 5 && code(s, end2) === 46) return true
  }
  return false
}

/** `(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})`. */
function github(s: string): boolean {
  return (
    prefixThenRun(s, 'gh', 'pousr', '_', ALNUM, 30) || prefixThenRun(s, 'github_pat_', '', '', ALNUM | US, 30)
  )
}

/** `[sr]k_(live|test)_[A-Za-z0-9]{10,}`. */
function stripe(s: string): boolean {
  return (
    prefixThenRun(s, 'k_live_', '', '', ALNUM, 10, 'sr') ||
    prefixThenRun(s, 'k_test_', '', '', ALNUM, 10, 'sr')
  )
}

/** `(AKIA|ASIA)[0-9A-Z]{16}`. Two searches for the whole prefixes: "A" alone is found everywhere. */
function awsKeyId(s: string): boolean {
  return prefixThenRun(s, 'AKIA', '', '', UP | DI, 16) || prefixThenRun(s, 'ASIA', '', '', UP | DI, 16)
}

/** `xox[baprs]-[A-Za-z0-9-]{10,}`. */
function slack(s: string): boolean {
  return prefixThenRun(s, 'xox', 'baprs', '-', ALNUM | DA, 10)
}

/** `-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----` (PEM and PGP private keys). */
function privateKey(s: string): boolean {
  const head = '-----BEGIN '
  for (let i = s.indexOf(head); i !== -1; i = s.indexOf(head, i + 1)) {
    const from = i + head.length
    // The tail is itself made of [A-Z ], so it must end the run, and "-----" follow it.
    const end = runEndIn(s, from, UP | SP)
    if (!s.startsWith('-----', end)) continue
    for (const tail of ['PRIVATE KEY', 'PRIVATE KEY BLOCK']) {
      if (end - from >= tail.length && s.startsWith(tail, end - tail.length)) return true
    }
  }
  return false
}

/** `[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{1,255}:[^/\s@]{1,255}@` (case-insensitive): a password in a URL. */
function urlWithPassword(s: string): boolean {
  const n = s.length
  // Inline loops rather than runEnd with a callback: this rule meets every "://" of a value.
  const spaceOr = (c: number, a: number, b: number, d: number) =>
    c === a || c === b || c === d || ((c <= 32 || c >= 0xa0) && isSpace(c))
  for (let i = s.indexOf('://'); i !== -1; i = s.indexOf('://', i + 1)) {
    // A scheme: up to 32 scheme characters before "://", the first of them a letter.
    let scheme = false
    for (let j = i - 1, stop = Math.max(0, i - 32); j >= stop; j--) {
      const c = s.charCodeAt(j)
      if (c >= 128) break
      const bits = CLASS[c] as number
      if (bits & (UP | LO)) {
        scheme = true
        break
      }
      if ((bits & DI) === 0 && c !== 43 && c !== 46 && c !== 45) break
    }
    if (!scheme) continue
    // Each part excludes the character that ends it, so each is the maximal run (at most 255).
    const userFrom = i + 3
    let userEnd = userFrom
    for (const stop = Math.min(n, userFrom + 256); userEnd < stop; userEnd++) {
      if (spaceOr(s.charCodeAt(userEnd), 47, 58, 64)) break
    }
    if (userEnd - userFrom > 255 || code(s, userEnd) !== 58) continue
    const passFrom = userEnd + 1
    let passEnd = passFrom
    for (const stop = Math.min(n, passFrom + 256); passEnd < stop; passEnd++) {
      if (spaceOr(s.charCodeAt(passEnd), 47, 64, 64)) break
    }
    if (passEnd > passFrom && passEnd - passFrom <= 255 && code(s, passEnd) === 64) return true
  }
  return false
}

const isAsciiSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)
const isWordChar = (c: number) => isAlnum(c) || c === 95
const isBase64 = (c: number) => isAlnum(c) || c === 43 || c === 47

/** `glpat-[A-Za-z0-9_-]{20,}`: a GitLab personal access token. */
const gitlab = (s: string) => prefixThenRun(s, 'glpat-', '', '', B64URL, 20)

/** `hooks\.slack\.com/services/[A-Za-z0-9/]{20,}`: a Slack webhook URL. */
const slackWebhook = (s: string) => prefixThenRun(s, 'hooks.slack.com/services/', '', '', ALNUM | SL, 20)

/** `AIza[0-9A-Za-z_-]{35}`: a Google API key. */
const googleApiKey = (s: string) => prefixThenRun(s, 'AIza', '', '', B64URL, 35)

/** `(^|[^A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}`: an OpenAI-style secret key. */
function skDash(s: string): boolean {
  for (let i = s.indexOf('sk-'); i !== -1; i = s.indexOf('sk-', i + 1)) {
    if (i > 0 && inClass(code(s, i - 1), B64URL)) continue
    // A run starting here cannot contain another boundary-preceded "sk-": runs are checked once.
    if (runEndIn(s, i + 3, B64URL) - (i + 3) >= 20) return true
  }
  return false
}

/** ASCII-only lower case, so that indexes stay those of `s`. */
function asciiLower(s: string): string {
  const lower = s.toLowerCase()
  if (lower.length === s.length) return lower
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = code(s, i)
    out += isUpper(c) ? String.fromCharCode(c + 32) : s[i]
  }
  return out
}

/**
 * `(^|[^A-Za-z0-9_])(password|passwd|pwd)[ \t]*=[ \t]*[^ \t\r\n&#]` (case-insensitive): a libpq
 * DSN's or a query string's password.
 */
function passwordAssignment(s: string): boolean {
  const lower = asciiLower(s)
  for (const word of ['password', 'passwd', 'pwd']) {
    for (let i = lower.indexOf(word); i !== -1; i = lower.indexOf(word, i + 1)) {
      if (i > 0 && isWordChar(code(s, i - 1))) continue
      let j = i + word.length
      while (j < s.length && (code(s, j) === 32 || code(s, j) === 9)) j++
      if (code(s, j) !== 61) continue
      j++
      while (j < s.length && (code(s, j) === 32 || code(s, j) === 9)) j++
      const c = code(s, j)
      if (j < s.length && c !== 13 && c !== 10 && c !== 38 && c !== 35) return true
    }
  }
  return false
}

const SECRET_QUERY_NAMES = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'client_secret',
  'secret',
  'api_key',
  'apikey',
  'sig',
  'signature',
  'x-amz-signature',
  'x-goog-signature',
])

/**
 * `[?&](access_token|refresh_token|id_token|token|client_secret|secret|api_key|apikey|sig|signature|
 * x-amz-signature|x-goog-signature)=[^&# \t\r\n]` (case-insensitive): a credential in a query string.
 */
function queryCredential(s: string): boolean {
  let q = s.indexOf('?')
  let a = s.indexOf('&')
  while (q !== -1 || a !== -1) {
    let i: number
    if (a === -1 || (q !== -1 && q < a)) {
      i = q
      q = s.indexOf('?', q + 1)
    } else {
      i = a
      a = s.indexOf('&', a + 1)
    }
    const end = runEndIn(s, i + 1, B64URL, 17)
    if (end - i < 4 || code(s, end) !== 61 || !SECRET_QUERY_NAMES.has(asciiLower(s.slice(i + 1, end))))
      continue
    const v = code(s, end + 1)
    if (end + 1 < s.length && v !== 38 && v !== 35 && v !== 32 && v !== 9 && v !== 13 && v !== 10) return true
  }
  return false
}

/**
 * `^basic\s+TOKEN\s*$` (case-insensitive), TOKEN base64 of at least 8 characters (a multiple of 4)
 * with a digit, `+`, `/` or `=`, or with lower case and an upper case letter after its first
 * character: an HTTP Basic authorization value (not the words "basic settings").
 */
function basicAuth(s: string): boolean {
  if (s.length < 14 || asciiLower(s.slice(0, 5)) !== 'basic') return false
  let from = 5
  const afterSpace = runEnd(s, from, isAsciiSpace)
  if (afterSpace === from) return false
  from = afterSpace
  let to = s.length
  while (to > from && isAsciiSpace(code(s, to - 1))) to--
  const token = s.slice(from, to)
  if (token.length < 8 || token.length % 4 !== 0) return false
  const body = runEnd(token, 0, isBase64)
  const pad = token.length - body
  if (pad > 2 || (pad > 0 && token.slice(body) !== '='.repeat(pad))) return false
  let digitOrSymbol = pad > 0
  let lower = false
  let upperAfterFirst = false
  for (let i = 0; i < body; i++) {
    const c = code(token, i)
    if (isDigit(c) || c === 43 || c === 47) digitOrSymbol = true
    else if (isLower(c)) lower = true
    else if (isUpper(c) && i > 0) upperAfterFirst = true
  }
  return digitOrSymbol || (lower && upperAfterFirst)
}

/**
 * An AWS secret access key: a maximal run of exactly 40 characters of `[A-Za-z0-9/+]` with upper
 * case, lower case and a digit in it.
 */
function awsSecretKey(s: string): boolean {
  const BASE64 = ALNUM | PL | SL
  const n = s.length
  let i = 0
  while (i < n) {
    const c0 = s.charCodeAt(i)
    if (c0 >= 128 || ((CLASS[c0] as number) & BASE64) === 0) {
      i++
      continue
    }
    let seen = 0
    let j = i
    while (j < n) {
      const c = s.charCodeAt(j)
      const bits = c < 128 ? (CLASS[c] as number) : 0
      if ((bits & BASE64) === 0) break
      seen |= bits
      j++
    }
    if (j - i === 40 && (seen & (UP | LO | DI)) === (UP | LO | DI)) return true
    i = j
  }
  return false
}

/** Every value rule. */
export const SECRET_VALUES: readonly ((s: string) => boolean)[] = [
  bearer,
  jwt,
  github,
  stripe,
  awsKeyId,
  slack,
  privateKey,
  urlWithPassword,
  gitlab,
  slackWebhook,
  googleApiKey,
  skDash,
  passwordAssignment,
  queryCredential,
  basicAuth,
  awsSecretKey,
]
