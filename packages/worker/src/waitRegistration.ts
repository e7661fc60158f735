import type { HeldRun, Lane } from '@ops-control-room/core'

export interface WaitRegistrationOptions {
  lanes: readonly Lane[]
  /**
   * Tells the database the free slots this worker waits with, per lane (0: not waiting there);
   * answers the runs handed to the worker since the last call.
   */
  send(slots: Record<Lane, number>): Promise<readonly HeldRun[]>
  /** The runs an answer says were handed to the worker (see `send`). */
  onHanded?(runs: readonly HeldRun[]): void
  /** While it waits anywhere, the wait is said again this often (it expires after a few of these). */
  refreshMs: number
  onError(error: Error): void
  /** A failure after which saying it again is pointless (the database has no hand-off): stop trying. */
  isPermanent?(error: Error): boolean
}

/** What a worker has told the database about its wait for handed runs (see `startWaitRegistration`). */
export interface WaitRegistration {
  /** The free slots the worker would wait with now, per lane (a lane left out: 0). */
  report(slots: Partial<Record<Lane, number>>): void
  /** A run was handed to it in `lane`: the database took one of that lane's slots. */
  handed(lane: Lane): void
  /** Says it waits nowhere any more (resolves once the database knows) and stops refreshing. */
  stop(): Promise<void>
}

/**
 * Keeps the database's record of what this worker waits for (`ops.wait_for_runs`) in step with what
 * the claim loop reports: one call in flight at a time, sent only when the record would change, and
 * refreshed every `refreshMs` while the worker waits anywhere (a worker that dies stops refreshing,
 * and its wait expires). A failed call is retried, backing off, on the next report or refresh. Each
 * answer lists the runs handed since the last one (`onHanded`), for the worker to check it heard them.
 *
 * @example
 * const waits = startWaitRegistration({ lanes: ['A'], send: (slots) => backend.waitForRuns({ workerId, lanes: slots, kinds, ttlMs: 6000 }), refreshMs: 2000, onError })
 * waits.report({ A: 4 })
 */
export function startWaitRegistration(options: WaitRegistrationOptions): WaitRegistration {
  const { lanes } = options
  const desired = new Map<Lane, number>(lanes.map((l) => [l, 0]))
  // What the database holds, as far as this worker knows; -1: unknown (a call failed).
  const held = new Map<Lane, number>(lanes.map((l) => [l, 0]))
  let inFlight: Promise<void> | undefined
  let stopped = false
  let disabled = false
  let refreshDue = false
  let failures = 0
  let retryAt = 0

  const waiting = () => lanes.some((l) => (desired.get(l) ?? 0) > 0)
  const differs = () => lanes.some((l) => desired.get(l) !== held.get(l))

  function flush() {
    if (inFlight || stopped || disabled) return
    if (!differs() && !(refreshDue && waiting())) return
    if (failures > 0 && performance.now() < retryAt) return
    refreshDue = false
    const slots = Object.fromEntries(lanes.map((l) => [l, desired.get(l) ?? 0])) as Record<Lane, number>
    inFlight = options.send(slots).then(
      (handed) => {
        failures = 0
        for (const l of lanes) held.set(l, slots[l])
        if (handed.length > 0) options.onHanded?.(handed)
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err))
        for (const l of lanes) held.set(l, -1)
        if (options.isPermanent?.(error)) disabled = true
        failures++
        retryAt = performance.now() + Math.min(options.refreshMs, 100 * 2 ** Math.min(failures, 6))
        options.onError(error)
      },
    )
    void inFlight.finally(() => {
      inFlight = undefined
      flush()
    })
  }

  const timer = setInterval(() => {
    refreshDue = true
    flush()
  }, options.refreshMs)
  timer.unref?.()

  return {
    report(slots) {
      for (const l of lanes) desired.set(l, Math.max(0, slots[l] ?? 0))
      flush()
    },
    handed(lane) {
      const n = held.get(lane) ?? 0
      if (n > 0) held.set(lane, n - 1)
    },
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      await inFlight
      if (disabled || lanes.every((l) => held.get(l) === 0)) return
      const handed = await options.send(Object.fromEntries(lanes.map((l) => [l, 0])) as Record<Lane, number>)
      for (const l of lanes) held.set(l, 0)
      if (handed.length > 0) options.onHanded?.(handed)
    },
  }
}
