/**
 * Errors. Every failure a caller can expect is an `OpsError` with a stable `code`; branch on the code,
 * never on the message. Raw driver or network errors never escape: they become `UnavailableError` or
 * `InternalError` with the original as `cause`.
 */

/** The stable error codes, one per kind of failure a caller can expect. */
export const OPS_ERROR_CODES = [
  'validation',
  'secret_in_params',
  'not_found',
  'conflict',
  'lease_lost',
  'idempotency_conflict',
  'unauthorized',
  'forbidden',
  'cancelled',
  'timeout',
  'payload_too_large',
  'rate_limited',
  'unavailable',
  'internal',
] as const

/** The stable error codes. */
export type OpsErrorCode = (typeof OPS_ERROR_CODES)[number]

/** A JSON-safe description of an error, as the executor API sends it. */
export interface OpsErrorJSON {
  code: OpsErrorCode
  message: string
  details?: unknown
}

/** The base class of every error Ops Control Room throws on purpose. */
export class OpsError extends Error {
  override readonly name: string = 'OpsError'
  readonly code: OpsErrorCode
  readonly details: unknown

  constructor(code: OpsErrorCode, message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
  }

  toJSON(): OpsErrorJSON {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }
}

/** Input that does not fit the contract; `details` holds the issues (path + message). */
export class ValidationError extends OpsError {
  override readonly name = 'ValidationError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('validation', message, options)
  }
}

/** Params that look like they carry a credential; `details.path` names where. */
export class SecretInParamsError extends OpsError {
  override readonly name = 'SecretInParamsError'
  readonly path: string
  constructor(path: string, options: { cause?: unknown } = {}) {
    super(
      'secret_in_params',
      `the value at ${path} looks like a secret; pass secrets through the worker's environment or a vault, never in params`,
      { ...options, details: { path } },
    )
    this.path = path
  }
}

export class NotFoundError extends OpsError {
  override readonly name = 'NotFoundError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('not_found', message, options)
  }
}

export class ConflictError extends OpsError {
  override readonly name = 'ConflictError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('conflict', message, options)
  }
}

/**
 * A worker-side write named a lease that is no longer the run's current one: the run was recovered,
 * settled or claimed again. Nothing was written; the execution that holds the lease has lost its run.
 */
export class LeaseLostError extends OpsError {
  override readonly name = 'LeaseLostError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('lease_lost', message, options)
  }
}

/**
 * An idempotency key already used in the session for a different request; `details.key` names it.
 * Send a new key for a new request, or the same request again to get the first run back.
 */
export class IdempotencyConflictError extends OpsError {
  override readonly name = 'IdempotencyConflictError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('idempotency_conflict', message, options)
  }
}

/** No or invalid credentials. */
export class UnauthorizedError extends OpsError {
  override readonly name = 'UnauthorizedError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('unauthorized', message, options)
  }
}

/** Valid credentials whose role may not do this. */
export class ForbiddenError extends OpsError {
  override readonly name = 'ForbiddenError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('forbidden', message, options)
  }
}

export class CancelledError extends OpsError {
  override readonly name = 'CancelledError'
  constructor(message = 'cancelled', options: { cause?: unknown; details?: unknown } = {}) {
    super('cancelled', message, options)
  }
}

export class TimeoutError extends OpsError {
  override readonly name = 'TimeoutError'
  constructor(message = 'timed out', options: { cause?: unknown; details?: unknown } = {}) {
    super('timeout', message, options)
  }
}

export class PayloadTooLargeError extends OpsError {
  override readonly name = 'PayloadTooLargeError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('payload_too_large', message, options)
  }
}

/** Too many requests or streams; `details.retryAfterSeconds` says when to try again. */
export class RateLimitedError extends OpsError {
  override readonly name = 'RateLimitedError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('rate_limited', message, options)
  }
}

/** The database or the API could not be reached; retrying later may work. */
export class UnavailableError extends OpsError {
  override readonly name = 'UnavailableError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('unavailable', message, options)
  }
}

/** Something went wrong that the caller could not have prevented. */
export class InternalError extends OpsError {
  override readonly name = 'InternalError'
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('internal', message, options)
  }
}

const ERROR_CODES: ReadonlySet<string> = new Set(OPS_ERROR_CODES)

/** Whether `value` is an OpsError (also across realms and bundle copies, by shape). */
export function isOpsError(value: unknown): value is OpsError {
  if (value instanceof OpsError) return true
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { message?: unknown }).message === 'string' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function' &&
    ERROR_CODES.has((value as { code: string }).code)
  )
}

/** Rebuilds a typed error from its JSON form (as received from the executor API). */
export function errorFromJSON(json: OpsErrorJSON, cause?: unknown): OpsError {
  const options = { cause, details: json.details }
  switch (json.code) {
    case 'validation':
      return new ValidationError(json.message, options)
    case 'secret_in_params': {
      const path = (json.details as { path?: unknown } | undefined)?.path
      return typeof path === 'string'
        ? new SecretInParamsError(path, { cause })
        : new ValidationError(json.message, options)
    }
    case 'not_found':
      return new NotFoundError(json.message, options)
    case 'conflict':
      return new ConflictError(json.message, options)
    case 'lease_lost':
      return new LeaseLostError(json.message, options)
    case 'idempotency_conflict':
      return new IdempotencyConflictError(json.message, options)
    case 'unauthorized':
      return new UnauthorizedError(json.message, options)
    case 'forbidden':
      return new ForbiddenError(json.message, options)
    case 'cancelled':
      return new CancelledError(json.message, options)
    case 'timeout':
      return new TimeoutError(json.message, options)
    case 'payload_too_large':
      return new PayloadTooLargeError(json.message, options)
    case 'rate_limited':
      return new RateLimitedError(json.message, options)
    case 'unavailable':
      return new UnavailableError(json.message, options)
    default:
      return new InternalError(json.message, options)
  }
}
