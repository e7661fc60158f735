import { z } from 'zod'
import { SpecKitParams } from './params'
import { SPEC_KIT_KIND } from './specKitHandler'

/**
 * A run template for `spec_kit_generate` whose `paramsSchema` is the JSON Schema of the handler's
 * own zod input, so the Runboard's form and the worker validate the same thing.
 *
 * @example
 * import { specKitTemplate } from '@ops-control-room/spec-kit-handler'
 * // await client.templates.create(specKitTemplate())
 * specKitTemplate().kind // 'spec_kit_generate'
 */
export function specKitTemplate(
  options: { name?: string; lane?: 'A' | 'B' | 'C' | 'D'; kind?: string } = {},
) {
  const schema = z.toJSONSchema(SpecKitParams, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >
  delete schema.$schema
  return {
    name: options.name ?? 'spec-kit',
    kind: options.kind ?? SPEC_KIT_KIND,
    lane: options.lane ?? 'C',
    description:
      'Writes a Spec Kit bundle (constitution, PRD, plan, tasks) to spec/<feature>/ and commits it.',
    defaultParams: { push: true, openPullRequest: false },
    paramsSchema: schema,
  }
}
