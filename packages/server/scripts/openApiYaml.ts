import { buildOpenApiDocument } from '@ops-control-room/core'
import { stringify } from 'yaml'

/** The path of the generated document, from the repository root. */
export const OPENAPI_PATH = 'docs/api/ops-executor.yaml'

/** docs/api/ops-executor.yaml as it should be: the route table and zod contract, as YAML. */
export function openApiYaml(): string {
  const header = [
    '# Generated from the zod contract and the executor route table by',
    '# `pnpm --filter @ops-control-room/server openapi`. Do not edit: a test fails when this is stale.',
  ].join('\n')
  return `${header}\n${stringify(buildOpenApiDocument(), { lineWidth: 0, aliasDuplicateObjects: false })}`
}
