import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { createTokenVerifier } from './auth'

const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes'
const sign = (claims: Record<string, unknown>, { exp = '1h' as string | null, secret = SECRET } = {}) => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt()
  if (exp !== null) jwt.setExpirationTime(exp)
  return jwt.sign(new TextEncoder().encode(secret))
}

describe('token verification', () => {
  it('refuses a token without exp (it would be good, and cached, forever)', async () => {
    const verify = createTokenVerifier({ jwtSecret: SECRET })
    await expect(
      verify(`Bearer ${await sign({ role: 'service_role' }, { exp: null })}`),
    ).rejects.toMatchObject({
      code: 'unauthorized',
    })
    await expect(verify(`Bearer ${await sign({ role: 'service_role' })}`)).resolves.toMatchObject({
      role: 'service_role',
    })
  })

  it('refuses an HS256 secret under 32 bytes at setup', () => {
    expect(() => createTokenVerifier({ jwtSecret: 'x' })).toThrow(/at least 32/)
    expect(() => createTokenVerifier({ jwtSecret: 'x'.repeat(31) })).toThrow(/at least 32/)
    expect(() => createTokenVerifier({ jwtSecret: 'x'.repeat(32) })).not.toThrow()
  })

  it('checks issuer and audience when configured', async () => {
    const verify = createTokenVerifier({ jwtSecret: SECRET, issuer: 'https://auth.example', audience: 'ops' })
    const ok = await sign({ role: 'authenticated', iss: 'https://auth.example', aud: 'ops' })
    await expect(verify(`Bearer ${ok}`)).resolves.toMatchObject({ role: 'authenticated' })
    for (const claims of [
      { role: 'authenticated', iss: 'https://evil.example', aud: 'ops' },
      { role: 'authenticated', iss: 'https://auth.example', aud: 'other' },
      { role: 'authenticated' },
    ]) {
      await expect(verify(`Bearer ${await sign(claims)}`)).rejects.toMatchObject({ code: 'unauthorized' })
    }
  })
})
