import { isOpsError, type RunTemplate } from '@ops-control-room/core/client'

/** One form field derived from a top-level property of a template's params schema. */
export interface ParamField {
  name: string
  /** How the field is edited. */
  control: 'text' | 'number' | 'integer' | 'checkbox' | 'select' | 'json'
  label: string
  description?: string
  required: boolean
  options?: string[]
}

type Schema = {
  type?: string | string[]
  enum?: unknown[]
  title?: string
  description?: string
  properties?: Record<string, Schema>
  required?: string[]
}

/** The fields of a template's form: one per top-level property of its params schema. */
export function fieldsOf(template: RunTemplate): ParamField[] {
  const schema = (template.paramsSchema ?? {}) as Schema
  const required = new Set(schema.required ?? [])
  const properties = schema.properties ?? {}
  const names = new Set([...Object.keys(properties), ...Object.keys(template.defaultParams)])
  return [...names].map((name) => {
    const p = properties[name] ?? {}
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== 'null') : p.type
    const control: ParamField['control'] = p.enum?.every((v) => typeof v === 'string')
      ? 'select'
      : type === 'string'
        ? 'text'
        : type === 'number'
          ? 'number'
          : type === 'integer'
            ? 'integer'
            : type === 'boolean'
              ? 'checkbox'
              : type === undefined && typeof template.defaultParams[name] === 'string'
                ? 'text'
                : 'json'
    return {
      name,
      control,
      label: p.title ?? name,
      ...(p.description ? { description: p.description } : {}),
      required: required.has(name),
      ...(control === 'select' ? { options: p.enum as string[] } : {}),
    }
  })
}

/** The text a field starts with: the template's default for it, if any. */
export function initialValue(field: ParamField, template: RunTemplate): string | boolean {
  const v = template.defaultParams[field.name]
  if (field.control === 'checkbox') return v === true
  if (v === undefined) return ''
  return field.control === 'json' ? JSON.stringify(v, null, 2) : String(v)
}

/** Form values → params, or per-field errors for values that do not even parse. */
export function paramsFrom(
  fields: ParamField[],
  values: Record<string, string | boolean>,
): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const f of fields) {
    const raw = values[f.name]
    if (f.control === 'checkbox') {
      params[f.name] = raw === true
      continue
    }
    const text = typeof raw === 'string' ? raw : ''
    if (text.trim() === '') continue
    if (f.control === 'number' || f.control === 'integer') {
      const n = Number(text)
      if (!Number.isFinite(n)) errors[f.name] = 'enter a number'
      else params[f.name] = n
    } else if (f.control === 'json') {
      try {
        params[f.name] = JSON.parse(text)
      } catch {
        errors[f.name] = 'enter valid JSON'
      }
    } else {
      params[f.name] = text
    }
  }
  return { params, errors }
}

/**
 * Checks params (over the template's defaults) against its JSON Schema with the same validator the
 * client uses, and maps the issues to fields ("params.seconds" → "seconds"; others → "").
 */
export async function schemaErrors(
  template: RunTemplate,
  params: Record<string, unknown>,
): Promise<Record<string, string>> {
  // Loaded on the first submit, not with the page: RE2 and the JSON Schema validator are ~170 KB.
  const { validateTemplateParams } = await import('@ops-control-room/core/params')
  try {
    validateTemplateParams(template, { ...template.defaultParams, ...params })
    return {}
  } catch (err) {
    if (!isOpsError(err)) throw err
    const issues = ((err.details as { issues?: { path: string; message: string }[] } | undefined)?.issues ??
      []) as { path: string; message: string }[]
    const out: Record<string, string> = {}
    for (const issue of issues) {
      const missing = /required property "([^"]+)"/.exec(issue.message)?.[1]
      const field = missing ?? issue.path.replace(/^params\.?/, '').split('.')[0] ?? ''
      out[field] ??= missing ? 'required' : issue.message
    }
    if (Object.keys(out).length === 0) out[''] = err.message
    return out
  }
}
