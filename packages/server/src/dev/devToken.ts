import { createHmac, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

const b64url = (input: Buffer | string) => Buffer.from(input).toString('base64url')

/**
 * Signs an HS256 JWT, the token shape the executor API verifies (Supabase-style: `role`, `sub`).
 * For local development only: the dev server hands this token to the browser app.
 */
export function signDevToken(
  secret: string,
  claims: { role: string; sub: string; expiresInSeconds?: number; issuer?: string; audience?: string },
): string {
  const now = Math.floor(Date.now() / 1000)
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const payload = b64url(
    JSON.stringify({
      role: claims.role,
      sub: claims.sub,
      iat: now,
      exp: now + (claims.expiresInSeconds ?? 7 * 24 * 3600),
      ...(claims.issuer !== undefined ? { iss: claims.issuer } : {}),
      ...(claims.audience !== undefined ? { aud: claims.audience } : {}),
    }),
  )
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${signature}`
}

/** The dev server's JWT secret: kept in a file so tokens stay valid across restarts (0600). */
export async function loadOrCreateSecret(file: string | undefined): Promise<string> {
  if (!file) return randomBytes(32).toString('hex')
  try {
    const existing = (await readFile(file, 'utf8')).trim()
    if (existing.length >= 32) return existing
  } catch {
    // First start: create it below.
  }
  const secret = randomBytes(32).toString('hex')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${secret}\n`, { mode: 0o600 })
  return secret
}
