import { createExecutorHandler } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let db: TestDatabase
let sql: postgres.Sql
beforeAll(async () => {
  db = await createTestDatabase()
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
})
afterAll(async () => {
  await sql.end()
  await db.drop()
})

describe('asymmetric keys (Supabase JWT signing keys, via a JWKS)', () => {
  it('accepts ES256 tokens from the key set, and refuses others', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
    const handler = createExecutorHandler({ sql, jwks: createLocalJWKSet({ keys: [jwk] }), changes: false })
    try {
      const sign = (key: CryptoKey, kid = 'k1') =>
        new SignJWT({ role: 'authenticated', sub: '00000000-0000-4000-8000-000000000003' })
          .setProtectedHeader({ alg: 'ES256', kid })
          .setExpirationTime('5m')
          .sign(key)
      const call = (token: string) =>
        handler(
          new Request('http://x/functions/v1/ops-executor/sessions', {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'jwks' }),
          }),
        )
      const ok = await call(await sign(privateKey))
      expect(ok.status).toBe(201)
      expect((await ok.json()).createdBy).toBe('00000000-0000-4000-8000-000000000003')
      const other = await generateKeyPair('ES256')
      expect((await call(await sign(other.privateKey))).status).toBe(401)
      expect((await call(await sign(privateKey, 'unknown'))).status).toBe(401)
    } finally {
      await handler.close()
    }
  })
})
