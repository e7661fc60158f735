import { format, Validator } from '@cfworker/json-schema'
import { RE2JS } from 're2js'
import type { RunTemplate } from './contract'
import { ValidationError } from './errors'

/**
 * A template's params schema runs against what clients send, on the server's one thread. JSON
 * Schema's `pattern` is an ECMAScript regular expression, and V8 backtracks: `^([a-z0-9]+\.?)*$`
 * against 31 characters took seconds. So every `pattern` is run by RE2 (re2js: linear time, no
 * backreferences or lookaround); a schema whose patterns RE2 cannot run, or that uses
 * `patternProperties` (matched against property names by the validator's own engine), is refused
 * when the template is created.
 */

// Subschema-bearing keywords: where a `pattern` can hide.
const SCHEMA_KEYWORDS = [
  'additionalProperties',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'items',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
] as const
const SCHEMA_LIST_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'] as const
const SCHEMA_MAP_KEYWORDS = [
  'properties',
  '$defs',
  'definitions',
  'dependentSchemas',
  'dependencies',
] as const

const FORMAT_PREFIX = 'ops-linear-pattern:'
const compiled = new Map<string, RE2JS>()

/** Registers `pattern` as a format the validator checks with RE2; throws if RE2 cannot run it. */
function linearFormat(pattern: string, where: string): string {
  const name = `${FORMAT_PREFIX}${pattern}`
  if (compiled.has(pattern)) return name
  let re: RE2JS
  try {
    re = RE2JS.compile(pattern)
  } catch (err) {
    throw new ValidationError(
      `paramsSchema: the pattern at ${where} cannot run in linear time (RE2 syntax, no backreferences or lookaround): ${(err as Error).message}`,
      { cause: err, details: { path: where, pattern } },
    )
  }
  // Bounded: templates are few, but nothing a caller sends may grow memory without limit.
  if (compiled.size >= 1000) {
    const oldest = compiled.keys().next().value as string
    compiled.delete(oldest)
    delete (format as Record<string, unknown>)[`${FORMAT_PREFIX}${oldest}`]
  }
  compiled.set(pattern, re)
  ;(format as Record<string, (s: string) => boolean>)[name] = (s) => re.matcher(s).find()
  return name
}

/** A copy of `schema` whose `pattern`s are checked by RE2 (as a `format` in an `allOf`). */
function rewrite(schema: unknown, where: string): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema
  const src = schema as Record<string, unknown>
  if (src.patternProperties !== undefined) {
    throw new ValidationError(
      `paramsSchema: patternProperties (at ${where}) is not supported: list the properties, or use propertyNames with a pattern`,
      { details: { path: `${where}/patternProperties` } },
    )
  }
  const out: Record<string, unknown> = { ...src }
  for (const k of SCHEMA_KEYWORDS) {
    if (src[k] !== undefined && !Array.isArray(src[k])) out[k] = rewrite(src[k], `${where}/${k}`)
  }
  for (const k of SCHEMA_LIST_KEYWORDS) {
    const list = src[k]
    if (Array.isArray(list)) out[k] = list.map((s, i) => rewrite(s, `${where}/${k}/${i}`))
  }
  for (const k of SCHEMA_MAP_KEYWORDS) {
    const map = src[k]
    if (map !== null && typeof map === 'object' && !Array.isArray(map)) {
      out[k] = Object.fromEntries(
        Object.entries(map as Record<string, unknown>).map(([name, s]) => [
          name,
          Array.isArray(s) ? s : rewrite(s, `${where}/${k}/${name}`),
        ]),
      )
    }
  }
  if (src.pattern !== undefined) {
    if (typeof src.pattern !== 'string') {
      throw new ValidationError(`paramsSchema: pattern at ${where} must be a string`, {
        details: { path: `${where}/pattern` },
      })
    }
    delete out.pattern
    const check = { format: linearFormat(src.pattern, `${where}/pattern`) }
    out.allOf = [...(Array.isArray(out.allOf) ? (out.allOf as unknown[]) : []), check]
  }
  return out
}

/**
 * A validator for a template's params schema in which every `pattern` runs in linear time.
 * @throws ValidationError when the schema is not usable (bad JSON Schema, a pattern RE2 cannot run,
 * `patternProperties`).
 */
export function paramsSchemaValidator(schema: Record<string, unknown>): Validator {
  const linear = rewrite(schema, '#') as Record<string, unknown>
  try {
    return new Validator(linear as never, '2020-12', false)
  } catch (err) {
    throw new ValidationError(`paramsSchema is not a usable JSON Schema: ${String(err)}`, { cause: err })
  }
}

/** Checks params against a template's JSON Schema; throws ValidationError listing what is wrong. */
export function validateTemplateParams(template: RunTemplate, params: Record<string, unknown>): void {
  if (!template.paramsSchema) return
  const result = paramsSchemaValidator(template.paramsSchema).validate(params)
  if (!result.valid) {
    const issues = result.errors
      .filter((e) => e.keyword !== 'properties' && e.keyword !== 'allOf')
      .map((e) => ({
        path: `params${e.instanceLocation.replace(/^#/, '').replace(/\//g, '.')}`,
        // A pattern runs as a format of ours (see paramsSchema.ts): say "pattern", as written.
        message: e.error.replace(
          /does not match format "ops-linear-pattern:(.*)"\.$/s,
          'does not match pattern $1.',
        ),
      }))
    throw new ValidationError(
      `params do not match template ${template.name}@${template.version}: ${issues[0]?.path}: ${issues[0]?.message}`,
      { details: { issues } },
    )
  }
}
