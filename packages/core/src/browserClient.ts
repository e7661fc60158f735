import { buildOpsClient, type OpsClient, type OpsClientOptions } from './client'
import { ValidationError } from './errors'

// Any UUID's shape; the server checks the rest (version and variant) as it parses the request.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function checkId(value: unknown, what: string): string {
  if (typeof value === 'string' && UUID.test(value)) return value
  throw new ValidationError(`invalid ${what}: (input): Invalid UUID`, {
    details: { issues: [{ path: '(input)', message: 'Invalid UUID' }] },
  })
}

/**
 * Creates a client over `httpBackend` or `supabaseBackend`, without the contract's zod schemas (a
 * browser bundle's largest part): the executor API parses every input with them where it enters and
 * answers with the same typed errors (`ValidationError`, `SecretInParamsError`…), one round trip
 * later. Ids are checked here. For `postgresBackend`, use `createOpsClient` of
 * `@ops-control-room/core`, which validates before any I/O.
 *
 * @example
 * import { createOpsClient, httpBackend } from '@ops-control-room/core/client'
 *
 * const ops = createOpsClient({ backend: httpBackend({ url: '/api', token: async () => 'a user JWT' }) })
 */
export function createOpsClient(options: OpsClientOptions): OpsClient {
  if (options?.backend && options.backend.validatesInput !== true) {
    throw new TypeError(
      `createOpsClient of @ops-control-room/core/client leaves validation to the server: give it httpBackend(...) or supabaseBackend(...), or use createOpsClient of @ops-control-room/core for a ${options.backend.kind} backend`,
    )
  }
  return buildOpsClient(options, {
    // The backend sends what it is given; the server parses it with the contract's schemas.
    input: (_name, input) => input as never,
    id: checkId,
  })
}
