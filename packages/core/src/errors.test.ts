import { describe, expect, it } from 'vitest'
import {
  ConflictError,
  errorFromJSON,
  isOpsError,
  NotFoundError,
  OpsError,
  SecretInParamsError,
  ValidationError,
} from './errors'

describe('errors', () => {
  it('carry a stable code, a name and a JSON form', () => {
    const cause = new Error('driver said no')
    const err = new ConflictError('already exists', { cause, details: { constraint: 'x' } })
    expect(err).toBeInstanceOf(OpsError)
    expect(err.name).toBe('ConflictError')
    expect(err.code).toBe('conflict')
    expect(err.cause).toBe(cause)
    expect(err.toJSON()).toEqual({
      code: 'conflict',
      message: 'already exists',
      details: { constraint: 'x' },
    })
  })

  it('round-trip through JSON as the same class', () => {
    for (const err of [
      new ValidationError('bad', { details: { issues: [] } }),
      new NotFoundError('gone'),
      new SecretInParamsError('params.token'),
    ]) {
      const back = errorFromJSON(JSON.parse(JSON.stringify(err)))
      expect(back.constructor).toBe(err.constructor)
      expect(back.toJSON()).toEqual(err.toJSON())
    }
  })

  it('isOpsError recognises our errors and nothing else', () => {
    expect(isOpsError(new NotFoundError('x'))).toBe(true)
    expect(isOpsError(new Error('x'))).toBe(false)
    expect(isOpsError({ code: 'ECONNREFUSED', message: 'x' })).toBe(false)
    expect(isOpsError(null)).toBe(false)
  })
})
