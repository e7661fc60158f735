import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ROUTES } from '@ops-control-room/core'
import { validate } from '@readme/openapi-parser'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { OPENAPI_PATH, openApiYaml } from '../scripts/openApiYaml'

const file = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', OPENAPI_PATH)

describe('the OpenAPI document', () => {
  it('is up to date with the contract (run `pnpm --filter @ops-control-room/server openapi` if not)', () => {
    expect(readFileSync(file, 'utf8')).toBe(openApiYaml())
  })

  it('validates as OpenAPI 3.0 and documents every route', async () => {
    const doc = parse(readFileSync(file, 'utf8'))
    const result = await validate(structuredClone(doc))
    expect(result.valid ? [] : result.errors).toEqual([])
    for (const route of ROUTES) {
      expect(doc.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.id)
    }
  })
})
