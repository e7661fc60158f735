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
 * Parses `input` with `schema`, or throws a `ValidationError` whose `details.issues` list every
 * problem (a `SecretInParamsError` when params hold a credential). Called before any I/O.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
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
