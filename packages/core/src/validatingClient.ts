import { buildOpsClient, type OpsClient, type OpsClientOptions } from './client'
import * as C from './contract'
import { fastParse } from './fastParse'
import { paramsSchemaValidator, validateTemplateParams } from './paramsSchema'
import { parseInput } from './validate'

export type { ClientChecks, InputName, OpsClient, OpsClientOptions, WatchRunsFilter } from './client'
export { validateTemplateParams } from './paramsSchema'

/**
 * Creates a client over a backend. Every operation validates its input with the contract's schemas
 * before any I/O and rejects with a typed `OpsError`. (Browsers: `@ops-control-room/core/client` has
 * the same client without the schemas, leaving validation to the server.)
 *
 * @example
 * import { createOpsClient } from '@ops-control-room/core'
 * import { postgresBackend } from '@ops-control-room/core/postgres'
 *
 * const ops = createOpsClient({ backend: postgresBackend({ databaseUrl: process.env.DATABASE_URL! }) })
 * const session = await ops.sessions.create({ name: 'deploy api' })
 * await ops.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'shell', lane: 'A', params: { command: 'make' } }] })
 */
export function createOpsClient(options: OpsClientOptions): OpsClient {
  return buildOpsClient(options, {
    // The pickup path's two inputs are checked by hand when they have their common shape; anything
    // else (every invalid input among it) goes through the schema, with its typed errors.
    // biome-ignore lint/performance/noDynamicNamespaceImportAccess: this client uses every input schema; the browser entry imports none.
    input: (name, input, what) => (fastParse(name, input) ?? parseInput(C[name], input, what)) as never,
    id: (value, what) => parseInput(C.Run.shape.id, value, what),
    templateParams: validateTemplateParams,
    paramsSchema: (schema) => {
      paramsSchemaValidator(schema)
    },
  })
}
