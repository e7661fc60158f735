import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { findSecret, valueLooksSecret } from './secrets'

describe('findSecret', () => {
  it.each([
    [{ password: 'x' }, 'params.password'],
    [{ db: { dbPassword: 'x' } }, 'params.db.dbPassword'],
    [{ API_KEY: 'x' }, 'params.API_KEY'],
    [{ github: { token: 'abc' } }, 'params.github.token'],
    [{ client_secret: 'abc' }, 'params.client_secret'],
    [{ hosts: ['a', 'Bearer abcdefghij'] }, 'params.hosts[1]'],
    [{ note: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig' }, 'params.note'],
    [{ k: `ghp_${'A'.repeat(36)}` }, 'params.k'],
    [{ k: `github_pat_${'A'.repeat(40)}` }, 'params.k'],
    [{ k: 'sk_live_abcdefghijklmnop' }, 'params.k'],
    [{ k: 'AKIAIOSFODNN7EXAMPLE' }, 'params.k'],
    [{ k: 'xoxb-1234567890-abcdef' }, 'params.k'],
    [{ k: '-----BEGIN RSA PRIVATE KEY-----\nMII' }, 'params.k'],
    [{ url: 'postgres://app:s3cret@db.internal/prod' }, 'params.url'],
  ])('flags %j at %s', (params, path) => {
    expect(findSecret(params)).toBe(path)
  })

  it.each([
    { max_tokens: 'many' },
    { tokenizer: 'cl100k' },
    { password: '' },
    { require_password: true },
    { password_min_length: 12 },
    { url: 'https://example.com/path?q=1' },
    { email: 'ops@example.com' },
    { text: 'a sentence mentioning a token and a password' },
  ])('keeps harmless %j', (params) => {
    expect(findSecret(params)).toBeUndefined()
  })

  it('stays linear on long adversarial strings', () => {
    const long = 'a'.repeat(200_000)
    expect(
      findSecret({ a: long, b: `${'a:'.repeat(50_000)}//`, c: `x://${'y'.repeat(100_000)}` }),
    ).toBeUndefined()
  })

  it('answers 1 MiB adversarial values in linear time ("eyJ" repeated was quadratic as a regex)', () => {
    const MiB = 1024 * 1024
    const fill = (unit: string) => unit.repeat(Math.ceil(MiB / unit.length)).slice(0, MiB)
    for (const unit of [
      'eyJ',
      'eyJaaaa.',
      'xoxb-!',
      'github_pat_!',
      'AKIA!',
      'ghp_',
      'sk_live_',
      '-----BEGIN ',
      'a:',
      'a://',
      'a://b:',
    ]) {
      expect([unit, findSecret({ v: fill(unit) })]).toEqual([unit, undefined])
    }
  })

  it('near misses (each format just short of a match) repeated to 1 MiB are no secret, and one completed is', () => {
    const MiB = 1024 * 1024
    const near: [miss: string, completion: string][] = [
      [`ghp_${'a'.repeat(29)}`, 'a'],
      [`github_pat_${'a'.repeat(29)}`, 'a'],
      [`sk_live_${'a'.repeat(9)}`, 'a'],
      [`AKIA${'A'.repeat(15)}`, 'A'],
      [`xoxb-${'a'.repeat(9)}`, 'a'],
      [`glpat-${'a'.repeat(19)}`, 'a'],
      [`AIza${'a'.repeat(34)}`, 'a'],
      [`hooks.slack.com/services/${'a'.repeat(19)}`, 'a'],
      [`sk-${'a'.repeat(19)}`, 'a'],
      ['eyJaaaaa.aaaa', 'a.'],
      ['-----BEGIN RSA PRIVATE KE', 'Y-----'],
      [`https://${'u'.repeat(20)}:`, 'p@'],
      ['?toke', 'n=x'],
    ]
    for (const [miss, completion] of near) {
      const unit = `${miss}!`
      const hostile = unit.repeat(Math.ceil(MiB / unit.length))
      expect([miss, findSecret({ v: hostile })]).toEqual([miss, undefined])
      expect([miss, findSecret({ v: `${hostile}${miss}${completion}!` })]).toEqual([miss, 'params.v'])
    }
  })

  it('the linear scanners give the same verdicts as the regular expressions they replace', () => {
    // The rules as regular expressions, as ops.find_secret states them in SQL: the specification.
    const patterns = [
      /^bearer\s+\S{8,}/i,
      /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\./,
      /(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/,
      /[sr]k_(live|test)_[A-Za-z0-9]{10,}/,
      /(AKIA|ASIA)[0-9A-Z]{16}/,
      /xox[baprs]-[A-Za-z0-9-]{10,}/,
      /-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----/,
      /[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{0,255}:[^/\s@]{1,255}@/i,
      /glpat-[A-Za-z0-9_-]{20,}/,
      /hooks\.slack\.com\/services\/[A-Za-z0-9/]{20,}/,
      /AIza[0-9A-Za-z_-]{35}/,
      /(^|[^A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}/,
      /(^|[^A-Za-z0-9_])(password|passwd|pwd)[ \t]*=[ \t]*[^ \t\r\n&#]/i,
      /[?&](access_token|refresh_token|id_token|token|client_secret|secret|api_key|apikey|sig|signature|x-amz-signature|x-goog-signature)=[^&# \t\r\n]/i,
    ]
    const basic = (v: string) => {
      if (!/^basic[ \t\n\r\f\v]/i.test(v)) return false
      const tok = v.slice(5).replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '')
      return (
        tok.length >= 8 &&
        tok.length % 4 === 0 &&
        /^[A-Za-z0-9+/]+={0,2}$/.test(tok) &&
        (/[0-9+/=]/.test(tok) || (/[a-z]/.test(tok) && /[A-Z]/.test(tok.slice(1))))
      )
    }
    const aws = (v: string) =>
      v
        .split(/[^A-Za-z0-9/+]+/)
        .some((x) => x.length === 40 && /[A-Z]/.test(x) && /[a-z]/.test(x) && /[0-9]/.test(x))
    const reference = (v: string) => patterns.some((re) => re.test(v)) || basic(v) || aws(v)
    const pieces = [
      'eyJ',
      '.',
      'a',
      'Z',
      '9',
      '_',
      '-',
      ' ',
      '\t',
      ':',
      '/',
      '@',
      '//',
      '://',
      'ghp_',
      'github_pat_!',
      'sk_live_',
      'rk_test_',
      'AKIA!',
      'ASIA',
      'xoxb-!',
      '-----BEGIN ',
      'RSA ',
      'PRIVATE KEY',
      '-----',
      'Bearer ',
      'bearer\t',
      'x',
      'AAAAAAAA',
      'abcdefgh12',
      'postgres',
      'h+s.',
      '\u00a0',
      'é',
      'glpat-',
      'hooks.slack.com/services/',
      'AIza',
      'sk-',
      'password',
      'PWD',
      '=',
      '?',
      '&',
      'token',
      'X-Amz-Signature',
      'Basic ',
      'dXNl',
      'Aa1/',
      '+',
      '==',
      'BLOCK',
      ' BLOCK',
      '#',
    ]
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...pieces), { maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        (parts, n) => {
          const value = parts.join('').repeat(n + 1)
          expect([value, valueLooksSecret(value)]).toEqual([value, reference(value)])
        },
      ),
      { numRuns: 5000 },
    )
  })
})
