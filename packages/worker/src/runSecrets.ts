import { ValidationError } from '@ops-control-room/core'
import type { RunSecrets, SecretReference, SecretSource } from './types'

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** Whether `value` is a `{ "$secret": "NAME" }` reference (and nothing else). */
export function isSecretReference(value: unknown): value is SecretReference {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return keys.length === 1 && keys[0] === '$secret' && typeof (value as SecretReference).$secret === 'string'
}

/** The default source: `OPS_SECRET_<NAME>` of the worker's environment, read at lookup time. */
const fromEnvironment = (name: string) => process.env[`OPS_SECRET_${name}`]

/**
 * `ctx.secrets` of a run. Values are never logged by the worker; a handler that resolves one is
 * responsible for keeping it out of its events, errors and artifacts.
 */
export function createRunSecrets(source: SecretSource | undefined): RunSecrets {
  const lookup =
    source === undefined
      ? fromEnvironment
      : typeof source === 'function'
        ? source
        : (name: string) => (Object.hasOwn(source, name) ? source[name] : undefined)
  const get = (name: string) => {
    if (!NAME.test(name)) {
      throw new ValidationError(
        `secret name ${JSON.stringify(name.slice(0, 140))} must be letters, digits and _ (at most 128)`,
      )
    }
    const value = lookup(name)
    return value === undefined || value === '' ? undefined : value
  }
  return {
    get,
    resolve(value) {
      if (typeof value === 'string') return value
      if (!isSecretReference(value)) {
        throw new ValidationError('a secret reference is { "$secret": "NAME" }')
      }
      const found = get(value.$secret)
      if (found === undefined) {
        throw new ValidationError(
          `the worker has no secret ${value.$secret} (set OPS_SECRET_${value.$secret} in its environment, or pass createWorker({ secrets }))`,
          { details: { secret: value.$secret } },
        )
      }
      return found
    },
  }
}
