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

  it('the linear scanners give the same verdicts as the regular expressions they replace', () => {
    // The rules as regular expressions: the specification (and what ops.find_secret runs in SQL).
    const reference = [
      /^bearer\s+\S{8,}/i,
      /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\./,
      /(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/,
      /[sr]k_(live|test)_[A-Za-z0-9]{10,}/,
      /(AKIA|ASIA)[0-9A-Z]{16}/,
      /xox[baprs]-[A-Za-z0-9-]{10,}/,
      /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
      /[a-z][a-z0-9+.-]{0,31}:\/\/[^/\s:@]{1,255}:[^/\s@]{1,255}@/i,
    ]
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
    ]
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...pieces), { maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        (parts, n) => {
          const value = parts.join('').repeat(n + 1)
          expect([value, valueLooksSecret(value)]).toEqual([value, reference.some((re) => re.test(value))])
        },
      ),
      { numRuns: 5000 },
    )
  })
})
