import { format, Validator } from '@cfworker/json-schema'
import { RE2JS } from 're2js'
import type { RunTemplate } from './contract'
import { ValidationError } from './errors'

/**
 * A template's params schema runs against what clients send, on the server's one thread. JSON
 * Schema's `pattern` is an ECMAScript regular expression, and V8 backtracks: `^([a-z0-9]+\.?)*$`
 * against 31 characters took seconds. So every `pattern` is run by RE2 (re2js: linear time, no
 * backreferences or lookaround); a schema whose patterns RE2 cannot run, or that uses
 * `patternProperties` (matched against property names by the validator's own engine), is refused
 * when the template is created.
 */

// Subschema-bearing keywords: where a `pattern` can hide.
const SCHEMA_KEYWORDS = [
  'additionalProperties',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'items',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
] as const
const SCHEMA_LIST_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'] as const
const SCHEMA_MAP_KEYWORDS = [
  'properties',
  '$defs',
  'definitions',
  'dependentSchemas',
  'dependencies',
] as const

const FORMAT_PREFIX = 'ops-linear-pattern:'
const compiled = new Map<string, RE2JS>()

/**
 * Memory for one pattern's lazy DFA (re2js's default is 8 MiB). A pattern whose DFA needs more states
 * (`(a|b)*a(a|b){12}$` needs 2^13) makes re2js reset the cache or give way to its NFA: still linear,
 * at about 500 ms per MiB instead of 10. With at most COMPILED_MAX patterns cached, the DFAs hold at
 * most 256 MiB however many templates clients probe.
 */
const DFA_MEMORY = 1024 * 1024
const COMPILED_MAX = 256

/**
 * A yes/no tester for `re` on re2js's lazy DFA, the fastest of its linear engines (about 10 ms per
 * MiB here, against ~40 ms for its one-pass engine and ~300 ms for the NFA that `matcher().find()`
 * uses, which tracks submatches). `test()` asks for no submatches, but re2js tries the one-pass
 * engine first when the pattern allows it; clearing it sends `test()` to the DFA. Both are
 * optimisations of the same linear-time semantics, so the verdict is unchanged: a property test
 * compares it with `matcher().find()`. Should a re2js release rename these internals, this does
 * nothing and `test()` stays correct and linear (`usesLazyDfa` in the tests notices).
 */
export function linearTester(re: RE2JS): (s: string) => boolean {
  const engine = (re as { re2Input?: Partial<RE2JS['re2Input']> }).re2Input
  if (engine && 'onepass' in engine && 'lazyDFA' in engine && 'prog' in engine) {
    engine.onepass = null as never
    const Dfa = (engine as RE2JS['re2Input']).dfa?.constructor as
      | (new (
          prog: unknown,
          maxMem: number,
        ) => RE2JS['re2Input']['lazyDFA'])
      | undefined
    if (typeof Dfa === 'function') engine.lazyDFA = new Dfa(engine.prog, DFA_MEMORY)
  }
  return (s) => re.test(s)
}

type LazyDfa = { clearCache?: () => void; stateCount?: number }
type Program = { numInst(): number; getInst(pc: number): { runes?: ArrayLike<number> } }

/** The probe's length: enough steps for a random walk to visit an automaton of 2^13 states. */
const PROBE_LENGTH = 64 * 1024

/**
 * A deterministic probe text for `re`: pseudo-random runes drawn from those the pattern names (the
 * ends of its character ranges), so that it walks the pattern's automaton.
 */
function probeText(prog: Program): string {
  const runes = new Set<number>()
  for (let pc = 0; pc < prog.numInst() && runes.size < 256; pc++) {
    const r = prog.getInst(pc).runes
    if (!r) continue
    for (let i = 0; i < r.length && i < 64; i++) {
      const rune = r[i] as number
      if (rune >= 0 && rune <= 0x10ffff && (rune < 0xd800 || rune > 0xdfff)) runes.add(rune)
    }
  }
  // Runes of the pattern walk its automaton deepest; ordinary ones only when it names none (`.*`).
  const alphabet = runes.size > 0 ? [...runes] : [0x61, 0x5a, 0x30, 0x20, 0x0a, 0x2d, 0x2e, 0x2f, 0xe9]
  let seed = 0x2545f491
  let out = ''
  for (let i = 0; i < PROBE_LENGTH; i++) {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    out += String.fromCodePoint(alphabet[(seed >>> 0) % alphabet.length] as number)
  }
  return out
}

/**
 * Whether `re`'s automaton fits the DFA budget: the tester runs on a deterministic probe, and a
 * pattern that makes the lazy DFA reset its cache (`(a|b)*a(a|b){12}$` needs 2^13 states) would
 * run at NFA speed, ~30× slower, on what clients send. Such a pattern is refused when the template
 * is created, as the issue allows. Without re2js's internals (a renamed release) this says yes: the
 * match stays linear, only slower.
 */
function automatonFits(re: RE2JS, test: (s: string) => boolean): boolean {
  const engine = (re as { re2Input?: { lazyDFA?: LazyDfa; prog?: Program } }).re2Input
  const dfa = engine?.lazyDFA
  if (!dfa || typeof dfa.clearCache !== 'function' || !engine?.prog) return true
  const clearCache = dfa.clearCache
  let resets = 0
  dfa.clearCache = function (this: LazyDfa) {
    resets++
    clearCache.call(this)
  }
  try {
    test(probeText(engine.prog))
  } finally {
    delete dfa.clearCache
    if (dfa.clearCache !== clearCache) dfa.clearCache = clearCache
  }
  return resets === 0
}

/** Registers `pattern` as a format the validator checks with RE2; throws if RE2 cannot run it. */
function linearFormat(pattern: string, where: string): string {
  const name = `${FORMAT_PREFIX}${pattern}`
  if (compiled.has(pattern)) return name
  let re: RE2JS
  try {
    re = RE2JS.compile(pattern)
  } catch (err) {
    throw new ValidationError(
      `paramsSchema: the pattern at ${where} cannot run in linear time (RE2 syntax, no backreferences or lookaround): ${(err as Error).message}`,
      { cause: err, details: { path: where, pattern } },
    )
  }
  const test = linearTester(re)
  if (!automatonFits(re, test)) {
    throw new ValidationError(
      `paramsSchema: the pattern at ${where} needs too large an automaton to match in bounded time (a counted repetition after an open one, such as (a|b)*a(a|b){12}): simplify it`,
      { details: { path: where, pattern } },
    )
  }
  // Bounded: templates are few, but nothing a caller sends may grow memory without limit.
  if (compiled.size >= COMPILED_MAX) {
    const oldest = compiled.keys().next().value as string
    compiled.delete(oldest)
    delete (format as Record<string, unknown>)[`${FORMAT_PREFIX}${oldest}`]
  }
  compiled.set(pattern, re)
  ;(format as Record<string, (s: string) => boolean>)[name] = test
  return name
}

/**
 * JavaScript's `\s` (what the validator's own expressions mean by it); RE2's `\s` is ASCII only.
 */
const JS_SPACE =
  '\\t-\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}'
const OCTET = '(?:1?\\d{1,2}|2[0-4]\\d|25[0-5])'
// A public IPv4 address: @cfworker/json-schema states the exclusions of 10/8, 127/8, 169.254/16,
// 192.168/16 and 172.16/12 as lookaheads, which RE2 has not; here they are spelt out as alternatives.
const PUBLIC_IPV4 =
  '(?:(?:[1-9]|1[1-9]|[2-9]\\d|1[013-58]\\d|12[0-689]|16[0-8]|17[013-9]|19[013-9]|2[01]\\d|22[0-3])\\.' +
  OCTET +
  '|169\\.(?:1?\\d{1,2}|2[0-4]\\d|25[0-35])' +
  '|172\\.(?:\\d|0\\d|1[0-5]|3[2-9]|[4-9]\\d|1\\d\\d|2[0-4]\\d|25[0-5])' +
  '|192\\.(?:\\d{1,2}|1[0-57-9]\\d|16[0-79]|2[0-4]\\d|25[0-5]))' +
  `\\.${OCTET}\\.(?:[1-9]\\d?|1\\d\\d|2[0-4]\\d|25[0-4])`
const LABEL = '(?:[a-z\\x{00a1}-\\x{ffff}0-9]+-?)*[a-z\\x{00a1}-\\x{ffff}0-9]+'
/**
 * The validator's `url` format, on RE2: its own expression is exponential in the length of a host
 * name (`http://` + 24 letters + `!` took 270 ms, each letter more doubling it) and quadratic in a
 * user part (`http://` + 16,000 colons: 0.5 s). Same language; a property test compares the two.
 */
export const LINEAR_URL = RE2JS.compile(
  `(?i)^(?:https?|ftp)://(?:[^${JS_SPACE}]+(?::[^${JS_SPACE}]*)?@)?` +
    `(?:${PUBLIC_IPV4}|${LABEL}(?:\\.${LABEL})*\\.[a-z\\x{00a1}-\\x{ffff}]{2,})` +
    `(?::\\d{2,5})?(?:/[^${JS_SPACE}]*)?$`,
)
/** Formats of the validator that backtrack badly, and their linear replacements. */
const LINEAR_FORMATS: Record<string, string> = { url: 'ops-linear-format:url' }
;(format as Record<string, (s: string) => boolean>)['ops-linear-format:url'] = linearTester(LINEAR_URL)

/**
 * A copy of `schema` whose `pattern`s are checked by RE2 (as a `format` in an `allOf`), and whose
 * backtracking formats (`url`) are replaced by linear ones.
 */
function rewrite(schema: unknown, where: string): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema
  const src = schema as Record<string, unknown>
  if (src.patternProperties !== undefined) {
    throw new ValidationError(
      `paramsSchema: patternProperties (at ${where}) is not supported: list the properties, or use propertyNames with a pattern`,
      { details: { path: `${where}/patternProperties` } },
    )
  }
  const out: Record<string, unknown> = { ...src }
  if (typeof src.format === 'string' && Object.hasOwn(LINEAR_FORMATS, src.format)) {
    out.format = LINEAR_FORMATS[src.format]
  }
  for (const k of SCHEMA_KEYWORDS) {
    if (src[k] !== undefined && !Array.isArray(src[k])) out[k] = rewrite(src[k], `${where}/${k}`)
  }
  for (const k of SCHEMA_LIST_KEYWORDS) {
    const list = src[k]
    if (Array.isArray(list)) out[k] = list.map((s, i) => rewrite(s, `${where}/${k}/${i}`))
  }
  for (const k of SCHEMA_MAP_KEYWORDS) {
    const map = src[k]
    if (map !== null && typeof map === 'object' && !Array.isArray(map)) {
      out[k] = Object.fromEntries(
        Object.entries(map as Record<string, unknown>).map(([name, s]) => [
          name,
          Array.isArray(s) ? s : rewrite(s, `${where}/${k}/${name}`),
        ]),
      )
    }
  }
  if (src.pattern !== undefined) {
    if (typeof src.pattern !== 'string') {
      throw new ValidationError(`paramsSchema: pattern at ${where} must be a string`, {
        details: { path: `${where}/pattern` },
      })
    }
    delete out.pattern
    const check = { format: linearFormat(src.pattern, `${where}/pattern`) }
    out.allOf = [...(Array.isArray(out.allOf) ? (out.allOf as unknown[]) : []), check]
  }
  return out
}

/**
 * A validator for a template's params schema in which every `pattern` runs in linear time.
 * @throws ValidationError when the schema is not usable (bad JSON Schema, a pattern RE2 cannot run,
 * `patternProperties`).
 */
export function paramsSchemaValidator(schema: Record<string, unknown>): Validator {
  const linear = rewrite(schema, '#') as Record<string, unknown>
  try {
    return new Validator(linear as never, '2020-12', false)
  } catch (err) {
    throw new ValidationError(`paramsSchema is not a usable JSON Schema: ${String(err)}`, { cause: err })
  }
}

/** Checks params against a template's JSON Schema; throws ValidationError listing what is wrong. */
export function validateTemplateParams(template: RunTemplate, params: Record<string, unknown>): void {
  if (!template.paramsSchema) return
  const result = paramsSchemaValidator(template.paramsSchema).validate(params)
  if (!result.valid) {
    const issues = result.errors
      .filter((e) => e.keyword !== 'properties' && e.keyword !== 'allOf')
      .map((e) => ({
        path: `params${e.instanceLocation.replace(/^#/, '').replace(/\//g, '.')}`,
        // A pattern runs as a format of ours (see paramsSchema.ts): say "pattern", as written.
        message: e.error.replace(
          /does not match format "ops-linear-pattern:(.*)"\.$/s,
          'does not match pattern $1.',
        ),
      }))
    throw new ValidationError(
      `params do not match template ${template.name}@${template.version}: ${issues[0]?.path}: ${issues[0]?.message}`,
      { details: { issues } },
    )
  }
}
