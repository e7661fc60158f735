import { describe, expect, it } from 'vitest'
import type { RunTemplate } from './contract'
import { paramsSchemaValidator, validateTemplateParams } from './paramsSchema'

const template = (paramsSchema: Record<string, unknown>): RunTemplate => ({
  id: '00000000-0000-4000-8000-000000000000',
  name: 't',
  version: 1,
  kind: 'k',
  lane: 'A',
  priority: 0,
  description: null,
  defaultParams: {},
  paramsSchema,
  maxAttempts: 1,
  timeoutSeconds: null,
  createdBy: null,
  createdAt: new Date(0).toISOString(),
})

describe('template params schemas run their patterns in linear time', () => {
  it('a catastrophic-backtracking pattern answers at once, with the right verdict', () => {
    // V8's engine needs ~2^n steps here (4.7 s at 31 characters, doubling with each one more).
    const t = template({
      type: 'object',
      properties: { host: { type: 'string', pattern: '^([a-z0-9]+\\.?)*$' } },
    })
    expect(() => validateTemplateParams(t, { host: `${'a'.repeat(5000)}!` })).toThrow(
      /params\.host: String does not match pattern/,
    )
    expect(() => validateTemplateParams(t, { host: 'db1.example.org' })).not.toThrow()
  })

  it('patterns nested anywhere (items, allOf, $defs, with other keywords beside) are all checked', () => {
    const t = template({
      $defs: { slug: { type: 'string', pattern: '^[a-z-]+$', minLength: 2 } },
      type: 'object',
      properties: {
        tags: { type: 'array', items: { $ref: '#/$defs/slug' } },
        ref: { allOf: [{ type: 'string', pattern: '^v[0-9]+$', allOf: [{ maxLength: 4 }] }] },
      },
    })
    const issues = (params: Record<string, unknown>): string[] => {
      try {
        validateTemplateParams(t, params)
        return []
      } catch (err) {
        return (err as { details: { issues: { path: string; message: string }[] } }).details.issues.map(
          (i) => `${i.path}: ${i.message}`,
        )
      }
    }
    expect(issues({ tags: ['ok-tag'], ref: 'v12' })).toEqual([])
    expect(issues({ tags: ['Not OK'] })).toContain('params.tags.0: String does not match pattern ^[a-z-]+$.')
    expect(issues({ ref: 'x12' })).toContain('params.ref: String does not match pattern ^v[0-9]+$.')
    expect(issues({ ref: 'v12345' }).some((i) => i.startsWith('params.ref: String is too long'))).toBe(true)
  })

  it('refuses, at creation, patterns RE2 cannot run and patternProperties', () => {
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^(a)\\1$' })).toThrow(/linear time/)
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^(?=a)a$' })).toThrow(/linear time/)
    expect(() => paramsSchemaValidator({ type: 'object', patternProperties: { '^x': {} } })).toThrow(
      /patternProperties/,
    )
    expect(() => paramsSchemaValidator({ type: 'string', pattern: '^[a-z]+$' })).not.toThrow()
  })
})
