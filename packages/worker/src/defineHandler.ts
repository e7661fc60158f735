import type { z } from 'zod'
import type { HandlerDefinition } from './types'

const KIND = /^[a-z0-9][a-z0-9_.:-]{0,99}$/

/**
 * Defines a handler plugin: a `kind`, a zod `input` schema that params are validated against before
 * `run`, and `run(ctx)`. A package exports the definition; a service registers it with a worker.
 *
 * @example
 * export const deploy = defineHandler({
 *   kind: 'deploy',
 *   input: z.object({ service: z.string(), version: z.string() }),
 *   async run(ctx) {
 *     ctx.log.info(`deploying ${ctx.params.service}@${ctx.params.version}`)
 *     ctx.progress(0.5, 'migrating')
 *     return { ok: true }
 *   },
 * })
 */
export function defineHandler<Schema extends z.ZodType, Output>(
  definition: HandlerDefinition<Schema, Output>,
): HandlerDefinition<Schema, Output> {
  if (!definition || typeof definition.kind !== 'string' || !KIND.test(definition.kind)) {
    throw new TypeError(
      `defineHandler needs a kind of 1–100 lowercase letters, digits and _ . : - (got ${JSON.stringify(definition?.kind)})`,
    )
  }
  if (!definition.input || typeof (definition.input as { safeParse?: unknown }).safeParse !== 'function') {
    throw new TypeError(`handler ${definition.kind} needs an input zod schema (z.object({...}), or z.any())`)
  }
  if (typeof definition.run !== 'function') {
    throw new TypeError(`handler ${definition.kind} needs a run(ctx) function`)
  }
  return Object.freeze({ ...definition })
}
