import { describe, expect, it } from 'vitest'
import { findSecret } from './secrets'

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
})
