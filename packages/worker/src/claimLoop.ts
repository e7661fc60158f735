import type { Lane, Run } from '@ops-control-room/core'
import { createWakeup } from './wakeup'

export interface ClaimLoopOptions {
  lanes: readonly Lane[]
  /**
   * Runs a lane can take now: its free handler slots, plus any room the worker gives it to claim
   * ahead (its local queue).
   */
  freeSlots(lane: Lane): number
  /** Claims up to the given number of runs per lane in one round trip. */
  claim(slots: Partial<Record<Lane, number>>): Promise<Run[]>
  /** Hands claimed runs over (synchronously takes their slots or their room in the local queue). */
  onRuns(runs: Run[]): void
  /** True while settlements back up: claim nothing until they drain. */
  backpressured(): boolean
  /** Fallback poll when no wake-up arrives. */
  pollIntervalMs: number
  onError(error: Error): void
  /** Claims that may be in flight at once. Default 1. */
  maxClaimsInFlight?: number
  /** The fewest runs a claim may ask for while another is in flight. Default 1. */
  minExtraClaim?: number
  /**
   * Hand-off: the slots a lane would wait with for runs handed to it (its free handler slots), and
   * where the loop reports them (`onWaiting`) each time round. A lane waits only while it is empty:
   * its last claim came back short and no wake-up of the lane came since.
   */
  waitSlots?(lane: Lane): number
  onWaiting?(slots: Partial<Record<Lane, number>>): void
}

/** A running claim loop. */
export interface ClaimLoop {
  /** A lane got claimable work (a NOTIFY). */
  wakeLane(lane: Lane): void
  /** Something changed (a slot freed, settlements drained): look again. */
  wake(): void
  /** When the loop last went round (for /health). */
  lastTick(): number
  /** Stops claiming; resolves once no claim is in flight. */
  stop(): Promise<void>
}

/**
 * The claim loop: claims as many runs as `freeSlots` says each lane can take, in lanes that may have work,
 * in one round trip, then sleeps until a wake-up (NOTIFY of new runs, a slot freed, a stop) or the
 * poll interval. A lane that came back short is considered empty until it is woken or polled, so an
 * idle worker does not hammer the database. The loop never sees SQL: it is handed `claim`.
 *
 * With `maxClaimsInFlight` above 1, a further claim goes out while others are in flight, for what
 * `freeSlots` gives beyond what they asked for, once that is at least `minExtraClaim` runs: a busy
 * worker's next claim is then answered while it starts the last one's runs.
 *
 * @example
 * const loop = startClaimLoop({ lanes: ['A'], freeSlots: () => 4, claim, onRuns, backpressured: () => false, pollIntervalMs: 2000, onError })
 */
export function startClaimLoop(options: ClaimLoopOptions): ClaimLoop {
  const maxInFlight = Math.max(1, options.maxClaimsInFlight ?? 1)
  const minExtra = Math.max(1, options.minExtraClaim ?? 1)
  const wakeup = createWakeup()
  const hungry = new Map<Lane, boolean>(options.lanes.map((l) => [l, true]))
  // Bumped by each wake-up of a lane; a claim that came back short marks its lane empty only if no
  // wake-up arrived while it was in flight (otherwise that NOTIFY would be lost).
  const generation = new Map<Lane, number>(options.lanes.map((l) => [l, 0]))
  // Runs asked for by the claims in flight, per lane: a further claim asks only for the rest.
  const asking = new Map<Lane, number>(options.lanes.map((l) => [l, 0]))
  // Lanes whose last claim came back short with no wake-up since: where the worker waits for hand-offs.
  const empty = new Map<Lane, boolean>(options.lanes.map((l) => [l, false]))
  const inFlight = new Set<Promise<void>>()
  let stopped = false
  let tick = Date.now()
  let errors = 0
  let backoffMs = 0

  function release(slots: Partial<Record<Lane, number>>) {
    for (const [lane, n] of Object.entries(slots) as [Lane, number][]) {
      asking.set(lane, (asking.get(lane) ?? 0) - n)
    }
  }

  function startClaim(slots: Partial<Record<Lane, number>>) {
    const seen = new Map(generation)
    for (const [lane, n] of Object.entries(slots) as [Lane, number][]) {
      asking.set(lane, (asking.get(lane) ?? 0) + n)
    }
    const claim = (async () => {
      let runs: Run[]
      try {
        runs = await options.claim(slots)
        errors = 0
      } catch (err) {
        release(slots)
        options.onError(err instanceof Error ? err : new Error(String(err)))
        errors++
        // Back off on database trouble, but stay interruptible by a stop.
        backoffMs = Math.min(options.pollIntervalMs, 100 * 2 ** Math.min(errors, 6))
        return
      }
      release(slots)
      const got = new Map<Lane, number>()
      for (const run of runs) got.set(run.lane, (got.get(run.lane) ?? 0) + 1)
      // The latest answer decides: short marks the lane empty (unless woken meanwhile), full marks it
      // worth asking again (another claim's short answer may have come in first).
      for (const [lane, n] of Object.entries(slots) as [Lane, number][]) {
        if ((got.get(lane) ?? 0) >= n) {
          hungry.set(lane, true)
          empty.set(lane, false)
        } else if (generation.get(lane) === seen.get(lane)) {
          hungry.set(lane, false)
          empty.set(lane, true)
        }
      }
      if (runs.length > 0) options.onRuns(runs)
    })()
    inFlight.add(claim)
    const settled = () => {
      inFlight.delete(claim)
      wakeup.wake()
    }
    claim.then(settled, (err) => {
      settled()
      options.onError(err instanceof Error ? err : new Error(String(err)))
    })
  }

  async function loop() {
    while (!stopped) {
      tick = Date.now()
      if (backoffMs > 0 && inFlight.size === 0) {
        const ms = backoffMs
        backoffMs = 0
        await wakeup.wait(ms)
        continue
      }
      const slots: Partial<Record<Lane, number>> = {}
      let asked = 0
      if (inFlight.size < maxInFlight && backoffMs === 0 && !options.backpressured()) {
        for (const lane of options.lanes) {
          const free = options.freeSlots(lane) - (asking.get(lane) ?? 0)
          if (free > 0 && hungry.get(lane)) {
            slots[lane] = free
            asked += free
          }
        }
      }
      // A claim while another is in flight only when it is worth a round trip of its own.
      if (asked > 0 && (inFlight.size === 0 || asked >= minExtra)) {
        startClaim(slots)
        continue
      }
      if (options.onWaiting && options.waitSlots) {
        const waiting: Partial<Record<Lane, number>> = {}
        for (const lane of options.lanes) {
          waiting[lane] = empty.get(lane) ? Math.max(0, options.waitSlots(lane)) : 0
        }
        options.onWaiting(waiting)
      }
      const woken = await wakeup.wait(options.pollIntervalMs)
      if (!woken && inFlight.size === 0) for (const lane of options.lanes) hungry.set(lane, true)
    }
  }

  const done = loop()

  return {
    wakeLane(lane) {
      if (!hungry.has(lane)) return
      hungry.set(lane, true)
      empty.set(lane, false)
      generation.set(lane, (generation.get(lane) ?? 0) + 1)
      wakeup.wake()
    },
    wake: () => wakeup.wake(),
    lastTick: () => tick,
    async stop() {
      stopped = true
      wakeup.wake()
      await done
      await Promise.allSettled([...inFlight])
      wakeup.close()
    },
  }
}
