import {
  ConflictError,
  ForbiddenError,
  IdempotencyConflictError,
  InternalError,
  isOpsError,
  LeaseLostError,
  NotFoundError,
  type OpsError,
  SecretInParamsError,
  TimeoutError,
  UnavailableError,
  ValidationError,
} from '../errors'

interface PgLikeError {
  code?: string
  message?: string
  detail?: string
  constraint_name?: string
  column_name?: string
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin shutdown
  '57P02',
  '57P03', // cannot connect now
  '53300', // too many connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])

/**
 * Turns a PostgreSQL or driver error into a typed OpsError. Our own SQLSTATEs (class `OP`) come from
 * the migrations' functions; the rest are mapped by class. Unknown errors become InternalError with
 * the original as `cause`: a raw driver error never reaches a caller.
 */
export function toOpsError(err: unknown): OpsError {
  if (isOpsError(err)) return err
  const e = (err ?? {}) as PgLikeError
  const code = e.code ?? ''
  const message = e.message ?? String(err)
  switch (code) {
    case 'OPVAL':
      return new ValidationError(message, { cause: err })
    case 'OPSEC':
      return new SecretInParamsError(e.detail ?? 'params', { cause: err })
    case 'OPNTF':
      return new NotFoundError(message, { cause: err })
    case 'OPCON':
      return new ConflictError(message, { cause: err })
    case 'OPLST':
      return new LeaseLostError(message, { cause: err, details: e.detail ? { runId: e.detail } : undefined })
    case 'OPIDC':
      return new IdempotencyConflictError(message, { cause: err, details: { key: e.detail } })
    case '23505':
      return new ConflictError(`already exists (${e.constraint_name ?? 'unique constraint'})`, { cause: err })
    case '23503':
      return new NotFoundError(`a referenced row does not exist (${e.constraint_name ?? 'foreign key'})`, {
        cause: err,
      })
    case '23514':
      return new ValidationError(`a value breaks the rule ${e.constraint_name ?? 'check constraint'}`, {
        cause: err,
        details: { constraint: e.constraint_name },
      })
    case '23502':
      return new ValidationError(`${e.column_name ?? 'a value'} is required`, { cause: err })
    case '22P02':
    case '22007':
    case '22008':
    case '22003':
    case '22023':
    case '22P05':
    case '2202E':
    case '22001':
    case '42804':
      return new ValidationError(message, { cause: err })
    case '42501':
      return new ForbiddenError(`permission denied: ${message}`, { cause: err })
    case '57014':
      return new TimeoutError(`the database cancelled the statement: ${message}`, { cause: err })
    case '40001':
    case '40P01':
      return new ConflictError(`concurrent update, retry: ${message}`, { cause: err })
  }
  if (CONNECTION_CODES.has(code) || /ECONN|connect|socket/i.test(code)) {
    return new UnavailableError(`the database is unreachable: ${message}`, { cause: err })
  }
  return new InternalError(`database error${code ? ` ${code}` : ''}: ${message}`, { cause: err })
}
