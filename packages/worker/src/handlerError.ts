import type { ErrorInfo } from '@ops-control-room/core'
import { isOpsError } from '@ops-control-room/core'

/**
 * An error a handler throws to fail its run with a chosen structured error. `retry: false` fails the
 * run now even if attempts remain (the failure is permanent).
 *
 * @example
 * throw new HandlerError({ type: 'deploy_rejected', message: 'health check failed', context: { status: 503 } })
 */
export class HandlerError extends Error {
  override readonly name = 'HandlerError'
  readonly type: string
  readonly context: Record<string, unknown> | undefined
  readonly retry: boolean

  constructor(input: {
    type: string
    message: string
    context?: Record<string, unknown>
    retry?: boolean
    cause?: unknown
  }) {
    super(input.message, input.cause === undefined ? undefined : { cause: input.cause })
    this.type = input.type
    this.context = input.context
    this.retry = input.retry ?? true
  }
}

const MAX_MESSAGE = 16_000
const MAX_STACK = 64_000

/** Turns anything a handler threw into the structured `{ type, message, stack, context }` of a run. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof HandlerError) {
    return clip({ type: err.type, message: err.message, stack: err.stack, context: err.context })
  }
  if (isOpsError(err)) {
    const details = err.details
    return clip({
      type: err.code,
      message: err.message,
      stack: err.stack,
      context: details && typeof details === 'object' ? { details } : undefined,
    })
  }
  if (err instanceof Error) {
    const own = (err as { context?: unknown }).context
    const type = (err as { type?: unknown }).type
    return clip({
      type: typeof type === 'string' ? type : err.name || 'error',
      message: err.message,
      stack: err.stack,
      context: own && typeof own === 'object' ? (own as Record<string, unknown>) : undefined,
    })
  }
  return { type: 'thrown', message: safeString(err), context: { value: jsonSafe(err) } }
}

/** Whether a thrown error asked not to be retried. */
export function isRetryable(err: unknown): boolean {
  return !(err && typeof err === 'object' && (err as { retry?: unknown }).retry === false)
}

function clip(info: ErrorInfo): ErrorInfo {
  const out: ErrorInfo = {
    type: info.type.slice(0, 200) || 'error',
    message: info.message.slice(0, MAX_MESSAGE),
  }
  if (info.stack) out.stack = info.stack.slice(0, MAX_STACK)
  if (info.context) out.context = jsonSafe(info.context) as Record<string, unknown>
  return out
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    return String(value)
  }
}

function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value ?? null))
  } catch {
    return String(value)
  }
}
