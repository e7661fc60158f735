import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { ForbiddenError, UnauthorizedError } from '../errors'
import { API_ROLES, type ApiRole } from './routes'

/** How the executor verifies tokens: a Supabase project's JWT secret (HS256) or its JWKS. */
export interface JwtVerification {
  /** The HS256 secret (Supabase's legacy JWT secret, or your own for self-hosting). */
  jwtSecret?: string
  /** A JWKS URL (Supabase: `<project>/auth/v1/.well-known/jwks.json`) or a key-set function. */
  jwks?: string | URL | JWTVerifyGetKey
  /** Accept tokens only from this issuer / for this audience, when given. */
  issuer?: string
  audience?: string
}

/** The shortest HS256 secret accepted, in bytes (256 bits). */
export const MIN_HS256_SECRET_BYTES = 32

/** Who is calling: the verified claims and the database role they map to. */
export interface Caller {
  role: ApiRole
  claims: JWTPayload & { role: ApiRole; sub?: string }
}

/** Builds a verifier: `(authorization header) => Caller`, throwing 401/403 errors. */
export function createTokenVerifier(
  options: JwtVerification,
): (authorization: string | null) => Promise<Caller> {
  if (!options.jwtSecret && !options.jwks) {
    throw new TypeError('the executor needs { jwtSecret } (HS256) or { jwks } to verify tokens')
  }
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined
  // RFC 7518 §3.2: an HS256 key of fewer than 256 bits can be brute-forced offline from one token.
  if (secret && secret.byteLength < MIN_HS256_SECRET_BYTES) {
    throw new TypeError(
      `the JWT secret is ${secret.byteLength} bytes; HS256 needs at least ${MIN_HS256_SECRET_BYTES} (e.g. openssl rand -base64 48)`,
    )
  }
  const keySet: JWTVerifyGetKey | undefined =
    options.jwks === undefined
      ? undefined
      : typeof options.jwks === 'function'
        ? options.jwks
        : createRemoteJWKSet(new URL(String(options.jwks)))

  // Workers send the same token on every request: remember verified ones until they expire, so the
  // signature is checked once per token, not once per heartbeat. Bounded; expiry is re-checked.
  const verified = new Map<string, Caller>()
  const remember = (token: string, caller: Caller) => {
    if (verified.size >= 1000) verified.delete(verified.keys().next().value as string)
    verified.set(token, caller)
  }

  return async (authorization) => {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null
    if (!match) throw new UnauthorizedError('send a JWT as "Authorization: Bearer <token>"')
    const token = match[1] as string
    const known = verified.get(token)
    if (known) {
      if ((known.claims.exp as number) + 5 > Date.now() / 1000) return known
      verified.delete(token)
    }
    let payload: JWTPayload | undefined
    let failure: unknown
    const verifyOptions = {
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
      // A token without an expiry would be good forever (and cached forever): refuse it.
      requiredClaims: ['exp'],
      clockTolerance: 5,
    }
    // A token signed with the secret is HS256; anything else is checked against the JWKS.
    if (secret) {
      try {
        payload = (await jwtVerify(token, secret, { ...verifyOptions, algorithms: ['HS256'] })).payload
      } catch (err) {
        failure = err
      }
    }
    if (!payload && keySet) {
      try {
        payload = (await jwtVerify(token, keySet, verifyOptions)).payload
      } catch (err) {
        failure = err
      }
    }
    if (!payload) {
      const code = (failure as { code?: string } | undefined)?.code
      const why =
        code === 'ERR_JWT_EXPIRED'
          ? 'the token has expired'
          : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
            ? `the token is not valid: ${(failure as Error).message}`
            : 'the token is not valid'
      throw new UnauthorizedError(why, { cause: failure, details: code ? { reason: code } : undefined })
    }
    const role = payload.role
    if (typeof role !== 'string' || !(API_ROLES as readonly string[]).includes(role)) {
      throw new ForbiddenError(`the token's role ${JSON.stringify(role ?? null)} may not use this API`)
    }
    if (payload.sub !== undefined && typeof payload.sub !== 'string') {
      throw new UnauthorizedError('the token has a non-string sub')
    }
    const caller = { role: role as ApiRole, claims: payload as Caller['claims'] }
    remember(token, caller)
    return caller
  }
}
