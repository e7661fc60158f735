import type { z } from 'zod'
import { SecretInParamsError, ValidationError } from './errors'

/** One problem with an input: where (a path) and what. */
export interface InputIssue {
  path: string
  message: string
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out || '(input)'
}

/**
 * The path of the first own `__proto__` key in `input`, or undefined. JSON.parse keeps such a key as
 * data, but copying the object (as parsing does) turns it into a prototype, so the key would vanish
 * without a word; it is refused instead. Iterative: deep input cannot overflow the stack.
 */
export function findProtoKey(input: unknown): string | undefined {
  return hasProtoKey(input) ? protoKeyPath(input) : undefined
}

/**
 * Whether any object in `input` has an own `__proto__` key. Builds no paths and no entry arrays: it
 * runs on every batch a worker settles, and the path is only needed when the answer is yes.
 */
function hasProtoKey(input: unknown): boolean {
  const stack: unknown[] = [input]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object') continue
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i]
        if (child !== null && typeof child === 'object') stack.push(child)
      }
      continue
    }
    if (Object.hasOwn(v, '__proto__')) return true
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue
      const child: unknown = (v as Record<string, unknown>)[k]
      if (child !== null && typeof child === 'object') stack.push(child)
    }
  }
  return false
}

function protoKeyPath(input: unknown): string | undefined {
  const stack: [unknown, string][] = [[input, '']]
  while (stack.length > 0) {
    const [v, path] = stack.pop() as [unknown, string]
    if (v === null || typeof v !== 'object') continue
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`])
      continue
    }
    if (Object.hasOwn(v, '__proto__')) return path === '' ? '__proto__' : `${path}.__proto__`
    for (const [k, child] of Object.entries(v)) stack.push([child, path === '' ? k : `${path}.${k}`])
  }
  return undefined
}

/**
 * Parses `input` with `schema`, or throws a `ValidationError` whose `details.issues` list every
 * problem (a `SecretInParamsError` when params hold a credential). Called before any I/O.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const proto = findProtoKey(input)
  if (proto !== undefined) {
    throw new ValidationError(`invalid ${what}: ${proto}: a key may not be named __proto__`, {
      details: { issues: [{ path: proto, message: 'a key may not be named __proto__' }] },
    })
  }
  const parsed = schema.safeParse(input)
  if (parsed.success) return parsed.data
  const issues: InputIssue[] = parsed.error.issues.map((i) => ({
    path: formatPath(i.path),
    message: i.message,
  }))
  for (const issue of parsed.error.issues) {
    const secretPath = (issue as { params?: { secretPath?: unknown } }).params?.secretPath
    if (typeof secretPath === 'string') {
      // Name the full path within the input: runs[2].params.db.password
      const full =
        issue.path.length === 0 ? secretPath : `${formatPath(issue.path)}${secretPath.replace(/^params/, '')}`
      throw new SecretInParamsError(full, { cause: parsed.error })
    }
  }
  const first = issues[0]
  const summary = first ? `${first.path}: ${first.message}` : 'invalid'
  throw new ValidationError(
    `invalid ${what}: ${summary}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
    {
      cause: parsed.error,
      details: { issues },
    },
  )
}
