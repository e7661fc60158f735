import {
  InternalError,
  isOpsError,
  type OpsError,
  type OpsErrorCode,
  PayloadTooLargeError,
  ValidationError,
} from '../errors'

/** The HTTP status of each error code: one table, shared by the handler and the OpenAPI document. */
export const STATUS_OF: Record<OpsErrorCode, number> = {
  validation: 400,
  secret_in_params: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  lease_lost: 409,
  idempotency_conflict: 409,
  cancelled: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  timeout: 504,
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } })
}

/**
 * Narrows database errors a client can provoke with odd but well-typed input (a NUL byte in a
 * string, an out-of-range timestamp, a too-large value) to 4xx: the caller sent them, so they must
 * never look like a server fault.
 */
export function clientFacing(err: unknown): OpsError {
  const e = isOpsError(err) ? err : new InternalError(String((err as Error)?.message ?? err), { cause: err })
  if (e.code !== 'internal') return e
  // The driver throws RangeError when a parameter cannot be serialised (a date that is not one).
  if (e.cause instanceof RangeError)
    return new ValidationError(`a value is out of range: ${e.cause.message}`, { cause: e.cause })
  const sqlstate = (e.cause as { code?: unknown } | undefined)?.code
  if (typeof sqlstate === 'string') {
    if (sqlstate.startsWith('22'))
      return new ValidationError(e.message.replace(/^database error \w+: /, ''), { cause: e.cause })
    if (sqlstate.startsWith('54')) return new PayloadTooLargeError(e.message, { cause: e.cause })
  }
  return e
}

export function errorResponse(err: unknown, headers: Record<string, string> = {}): Response {
  const e = clientFacing(err)
  const details = e.details as { reason?: unknown; retryAfterSeconds?: unknown } | undefined
  // A body that did not arrive in time is the client's doing: 408, not the server's 504.
  const status = e.code === 'timeout' && details?.reason === 'body_timeout' ? 408 : (STATUS_OF[e.code] ?? 500)
  if (e.code === 'rate_limited' && typeof details?.retryAfterSeconds === 'number') {
    headers = { ...headers, 'retry-after': String(Math.max(1, Math.ceil(details.retryAfterSeconds))) }
  }
  // Internal details stay in the server's log; the client gets the code and a plain message.
  const body =
    e.code === 'internal' ? { error: { code: e.code, message: 'internal error' } } : { error: e.toJSON() }
  return jsonResponse(body, status, headers)
}
