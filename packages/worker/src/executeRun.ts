import { CancelledError, type Run, TimeoutError } from '@ops-control-room/core'
import { isRetryable, toErrorInfo } from './handlerError'
import type { AbortCause, AnyHandler, HandlerContext, RunOutcome } from './types'

/** One run executing in this worker. */
export interface Execution {
  readonly run: Run
  readonly handler: AnyHandler
  /** performance.now() when it started. */
  readonly startedAt: number
  /** Why its signal aborted, if it did. */
  readonly cause: AbortCause | undefined
  /** Aborts the handler's signal; after the grace period the run is settled without the handler. */
  abort(cause: AbortCause): void
  /** How the run ended here; resolves once (handler settled, or abandoned). */
  readonly done: Promise<RunOutcome>
}

export interface ExecuteRunOptions {
  run: Run
  handler: AnyHandler
  /** Builds the context a handler sees, around the signal (`signal()` makes it on first read). */
  context(signal: () => AbortSignal, params: unknown): HandlerContext
  abortGraceMs: number
  onAbandoned(cause: AbortCause): void
}

const reasons: Record<AbortCause, (run: Run) => Error> = {
  cancel: (run) =>
    new CancelledError(`run ${run.id} was cancelled${run.cancelReason ? `: ${run.cancelReason}` : ''}`),
  timeout: (run) => new TimeoutError(`run ${run.id} timed out after ${run.timeoutSeconds} s`),
  lost: (run) =>
    new CancelledError(`run ${run.id} is no longer this worker's (recovered or finished elsewhere)`),
  shutdown: (run) => new CancelledError(`the worker is stopping; run ${run.id} goes back to the queue`),
}

/**
 * Executes one run: validates params with the handler's schema, arms the per-run timeout, calls
 * `run(ctx)` and turns what happened into an outcome. An abort (cancel, timeout, lost lease,
 * shutdown) decides the outcome whatever the handler does afterwards; a handler that ignores its
 * signal is abandoned after `abortGraceMs`, so a run can always be settled.
 */
export function executeRun(options: ExecuteRunOptions): Execution {
  const { run, handler } = options
  // The AbortController is made when the signal is first read, and an abort before that is applied
  // to it at once: a handler that never looks at its signal does not pay for one (~20 µs of an idle
  // worker's pickup, cold).
  let controller: AbortController | undefined
  let abortReason: Error | undefined
  const signal = (): AbortSignal => {
    if (!controller) {
      controller = new AbortController()
      if (abortReason) controller.abort(abortReason)
    }
    return controller.signal
  }
  let cause: AbortCause | undefined
  let settled = false
  let timeoutTimer: ReturnType<typeof setTimeout> | undefined
  let graceTimer: ReturnType<typeof setTimeout> | undefined
  let resolveDone!: (outcome: RunOutcome) => void
  const done = new Promise<RunOutcome>((resolve) => {
    resolveDone = resolve
  })

  const finish = (outcome: RunOutcome) => {
    if (settled) return
    settled = true
    if (timeoutTimer) clearTimeout(timeoutTimer)
    if (graceTimer) clearTimeout(graceTimer)
    resolveDone(outcome)
  }

  const outcomeOfAbort = (c: AbortCause, handlerSucceeded: boolean, result?: unknown): RunOutcome => {
    switch (c) {
      case 'cancel':
        return { type: 'cancelled' }
      case 'lost':
        return { type: 'lost' }
      case 'shutdown':
        // A handler that still finished its work keeps its result; otherwise the run is handed back.
        return handlerSucceeded ? { type: 'succeeded', result } : { type: 'released' }
      case 'timeout':
        return {
          type: 'failed',
          retry: true,
          error: {
            type: 'timeout',
            message: `timed out after ${run.timeoutSeconds} s`,
            context: { timeoutSeconds: run.timeoutSeconds, attempt: run.attempt },
          },
        }
    }
  }

  const abort = (c: AbortCause) => {
    if (settled || cause) return
    cause = c
    abortReason = reasons[c](run)
    controller?.abort(abortReason)
    graceTimer = setTimeout(() => {
      if (settled) return
      options.onAbandoned(c)
      finish(outcomeOfAbort(c, false))
    }, options.abortGraceMs)
  }

  const parsed = handler.input.safeParse(run.params)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i: { path: PropertyKey[]; code: string; message: string }) => ({
      path: ['params', ...i.path.map(String)].join('.'),
      code: i.code,
      message: i.message,
    }))
    finish({
      type: 'failed',
      retry: false,
      error: {
        type: 'validation',
        message: `params do not match the input of handler ${handler.kind}: ${issues[0]?.path}: ${issues[0]?.message}`,
        context: { issues },
      },
    })
  } else {
    if (run.timeoutSeconds) timeoutTimer = setTimeout(() => abort('timeout'), run.timeoutSeconds * 1000)
    const ctx = options.context(signal, parsed.data)
    let promise: Promise<unknown>
    try {
      promise = Promise.resolve(handler.run(ctx))
    } catch (err) {
      promise = Promise.reject(err)
    }
    promise.then(
      (result) => finish(cause ? outcomeOfAbort(cause, true, result) : { type: 'succeeded', result }),
      (err) =>
        finish(
          cause
            ? outcomeOfAbort(cause, false)
            : { type: 'failed', error: toErrorInfo(err), retry: isRetryable(err) },
        ),
    )
  }

  return {
    run,
    handler,
    startedAt: performance.now(),
    get cause() {
      return cause
    },
    abort,
    done,
  }
}
