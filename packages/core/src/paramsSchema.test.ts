import { format } from '@cfworker/json-schema'
import fc from 'fast-check'
import { RE2JS } from 're2js'
import { describe, expect, it } from 'vitest'
import type { RunTemplate } from './contract'
import { ValidationError } from './errors'
import { LINEAR_URL, linearTester, paramsSchemaValidator, validateTemplateParams } from './paramsSchema'

const template = (paramsSchema: Record<string, unknown>): RunTemplate => ({
  id: '00000000-0000-4000-8000-000000000000',
  name: 't',
  version: 1,
  kind: 'k',
  lane: 'A',
  priority: 0,
  description: null,
  defaultParams: {},
  paramsSchema,
  maxAttempts: 1,
  timeoutSeconds: null,
  createdBy: null,
  createdAt: new Date(0).toISOString(),
})

describe('template params schemas run their patterns in linear time', () => {
  it('a catastrophic-backtracking pattern answers at once, with the right verdict', () => {
    // V8's engine needs ~2^n steps here (4.7 s at 31 characters, doubling with each one more).
    const t = template({
      type: 'object',
      properties: { host: { type: 'string', pattern: '^([a-z0-9]+\\.?)*$' } },
    })
    expect(() => validateTemplateParams(t, { host: `${'a'.repeat(5000)}!` })).toThrow(
      /params\.host: String does not match pattern/,
    )
    expect(() => validateTemplateParams(t, { host: 'db1.example.org' })).not.toThrow()
  })

  it('patterns nested anywhere (items, allOf, $defs, with other keywords beside) are all checked', () => {
    const t = template({
      $defs: { slug: { type: 'string', pattern: '^[a-z-]+$', minLength: 2 } },
      type: 'object',
      properties: {
        tags: { type: 'array', items: { $ref: '#/$defs/slug' } },
        ref: { allOf: [{ type: 'string', pattern: '^v[0-9]+$', allOf: [{ maxLength: 4 }] }] },
      },
    })
    const issues = (params: Record<string, unknown>): string[] => {
      try {
        validateTemplateParams(t, params)
        return []
      } catch (err) {
        return (err as { details: { issues: { path: string; message: string }[] } }).details.issues.map(
          (i) => `${i.path}: ${i.message}`,
        )
      }
    }
    expect(issues({ tags: ['ok-tag'], ref: 'v12' })).toEqual([])
    expect(issues({ tags: ['Not OK'] })).toContain('params.tags.0: String does not match pattern ^[a-z-]+$.')
    expect(issues({ ref: 'x12' })).toContain('params.ref: String does not match pattern ^v[0-9]+$.')
    expect(issues({ ref: 'v12345' }).some((i) => i.startsWith('params.ref: String is too long'))).toBe(true)
  })

  it('refuses, at creation, patterns RE2 cannot run and patternProperties', () => {
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^(a)\\1$' })).toThrow(/linear time/)
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^(?=a)a$' })).toThrow(/linear time/)
    expect(() => paramsSchemaValidator({ type: 'object', patternProperties: { '^x': {} } })).toThrow(
      /patternProperties/,
    )
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^[a-z]+$' })).not.toThrow()
  })
})

describe('patterns run on the lazy DFA', () => {
  it('uses the lazy DFA: the one-pass engine is cleared and the DFA has a bounded budget', () => {
    // If a re2js release renames these internals, linearTester still answers correctly (through
    // test()) but may be several times slower: this test says so.
    const re = RE2JS.compile('^[a-z0-9-]+$')
    expect(re.re2Input.onepass).not.toBeNull()
    linearTester(re)
    expect(re.re2Input.onepass).toBeNull()
    expect(re.re2Input.lazyDFA.maxMem).toBe(1024 * 1024)
  })

  it('gives the same verdict as an unanchored find, on generated patterns and inputs', () => {
    const atoms = ['a', 'b', '.', '[a-c]', '[^a]', '\\d', '\\w', '\\s', 'é', '(a|b)', '(a|ab)', '\\b']
    const quant = ['', '*', '+', '?', '{2}', '{1,3}', '*?']
    const piece = fc.tuple(fc.constantFrom(...atoms), fc.constantFrom(...quant)).map(([a, q]) => a + q)
    const pattern = fc
      .tuple(fc.boolean(), fc.array(piece, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean())
      .map(([start, pieces, end, group]) => {
        const body = group ? `(${pieces.join('')})+` : pieces.join('')
        return `${start ? '^' : ''}${body}${end ? '$' : ''}`
      })
    const input = fc.array(fc.constantFrom('a', 'b', 'c', '1', ' ', 'é', '-', '\n', '😀'), { maxLength: 30 })
    fc.assert(
      fc.property(pattern, input, (p, chars) => {
        const s = chars.join('')
        const re = RE2JS.compile(p)
        const expected = re.matcher(s).find()
        expect(linearTester(RE2JS.compile(p))(s), `${p} on ${JSON.stringify(s)}`).toBe(expected)
      }),
      { numRuns: 2000 },
    )
  })

  it('keeps its verdict on inputs long enough to overflow the DFA budget', () => {
    // (a|b)*a(a|b){12} needs ~2^13 DFA states: the budget is exceeded, and re2js resets the cache or
    // falls back to the NFA, with the same answer.
    const p = '(a|b)*a(a|b){12}$'
    let s = ''
    let seed = 7
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      s += seed & 0x10000 ? 'a' : 'b'
    }
    for (const input of [s, `${s}b${'b'.repeat(12)}`, `${s}a${'b'.repeat(12)}`]) {
      expect(linearTester(RE2JS.compile(p))(input)).toBe(RE2JS.compile(p).matcher(input).find())
    }
  })
})

describe('patterns whose automaton overflows the DFA budget are refused when the template is made', () => {
  it('refuses (a|b)*a(a|b){11}$ and more, with the path, and keeps {10} (2^11 states, the most that fit)', () => {
    for (const n of [11, 12, 16]) {
      const schema = {
        type: 'object',
        properties: { host: { type: 'string', pattern: `(a|b)*a(a|b){${n}}$` } },
      }
      const error = (() => {
        try {
          paramsSchemaValidator(schema)
        } catch (e) {
          return e
        }
      })()
      expect(error, `{${n}}`).toBeInstanceOf(ValidationError)
      expect((error as ValidationError).message).toMatch(
        /#\/properties\/host\/pattern needs too large an automaton/,
      )
    }
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '(a|b)*a(a|b){10}$' })).not.toThrow()
  })

  it('keeps the everyday patterns', () => {
    for (const pattern of [
      '^[a-z0-9]+(-[a-z0-9]+)*$',
      '^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$',
      '^v\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.-]+)?$',
      '^https?://[\\w.-]+(:\\d+)?(/\\S*)?$',
      '^[A-Z]{2}\\d{2}[A-Z0-9]{11,30}$',
      '^[\\s\\S]{1,1000}$',
      '\\p{L}+',
      '.*',
    ]) {
      expect(() => paramsSchemaValidator({ type: 'string', pattern }), pattern).not.toThrow()
    }
  })
})

describe('formats whose own expressions backtrack run in linear time', () => {
  it('the url format answers at once where the validator’s own expression is exponential', () => {
    const t = template({ type: 'object', properties: { link: { type: 'string', format: 'url' } } })
    // http:// + 40 letters + "!" takes V8 minutes with @cfworker/json-schema's expression.
    expect(() => validateTemplateParams(t, { link: `http://${'a'.repeat(40)}!` })).toThrow(/params\.link/)
    expect(() => validateTemplateParams(t, { link: `http://${':'.repeat(100_000)}` })).toThrow(/params\.link/)
    expect(() =>
      validateTemplateParams(t, { link: 'https://user:pw@example.com:8080/a/b?c#d' }),
    ).not.toThrow()
  })

  it('accepts exactly what the validator’s url format accepts (private addresses refused alike)', () => {
    const pieces = [
      'http://',
      'https://',
      'ftp://',
      'HTTP://',
      'a',
      'b1',
      'Z',
      '-',
      '.',
      ':',
      '@',
      '/',
      ' ',
      'é',
      '\u00a0',
      '\u2028',
      '😀',
      '10',
      '127',
      '169',
      '254',
      '172',
      '16',
      '31',
      '32',
      '192',
      '168',
      '1',
      '0',
      '00',
      '255',
      '223',
      '224',
      '.com',
      '.c',
      'xn--',
      '8080',
      '?',
      '#',
    ]
    const reference = format.url as (s: string) => boolean
    const mine = linearTester(LINEAR_URL)
    const schemes = ['http://', 'https://', 'ftp://', 'HTTP://', 'htp://', '']
    const noise = fc.oneof(
      { arbitrary: fc.constant(''), weight: 3 },
      { arbitrary: fc.array(fc.constantFrom(...pieces), { maxLength: 3 }).map((p) => p.join('')), weight: 1 },
    )
    const label = fc.constantFrom('a', 'b1', 'xn--a', 'é', 'a-b', 'a--b', '-a', 'a-', 'Z9', '😀')
    const host = fc.oneof(
      fc
        .tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom('.com', '.c', '.é', '', '.1'))
        .map(([labels, tld]) => labels.join('.') + tld),
      fc
        .array(
          fc.constantFrom(
            '10',
            '127',
            '169',
            '254',
            '172',
            '16',
            '31',
            '32',
            '192',
            '168',
            '1',
            '0',
            '00',
            '255',
            '223',
            '224',
            '100',
            '160',
          ),
          { minLength: 3, maxLength: 5 },
        )
        .map((o) => o.join('.')),
    )
    const url = fc
      .tuple(
        fc.constantFrom(...schemes),
        fc.option(fc.constantFrom('u@', 'u:p@', 'u:@', ':@', 'a/b@', '10.0.0.1@', ' @'), { nil: '' }),
        host,
        fc.constantFrom('', ':80', ':8080', ':1', ':123456', ':'),
        fc.constantFrom('', '/', '/a/b?c#d', '/ x', '?q', '/\u00a0'),
        noise,
      )
      .map((parts) => parts.join(''))
    let valid = 0
    fc.assert(
      fc.property(url, (s) => {
        if (reference(s)) valid++
        expect([s, mine(s)]).toEqual([s, reference(s)])
      }),
      { numRuns: 10_000 },
    )
    // The generator reaches both verdicts often.
    expect(valid).toBeGreaterThan(100)
    for (const s of [
      'http://10.0.0.1',
      'http://8.8.8.8',
      'http://169.254.1.1',
      'http://169.253.1.1',
      'http://172.16.0.1',
      'http://172.32.0.1',
      'http://172.160.0.1',
      'http://192.168.1.1',
      'http://192.169.1.1',
      'http://100.1.1.1',
      'http://127.0.0.1:8080/x',
      'http://1.2.3.255',
      'http://224.1.1.1',
      'http://a.b.cd',
      'http://x@10.0.0.1@8.8.8.8',
    ]) {
      expect([s, mine(s)]).toEqual([s, reference(s)])
    }
  })
})
