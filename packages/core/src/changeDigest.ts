import type * as C from './contract'

/** Many `run` changes of one session, folded into one notification. */
export type RunsDigest = Extract<C.Change, { type: 'runs' }>

/** Most run ids a digest lists; past it, `ids` is null ("many: re-read what you show"). */
export const DIGEST_MAX_IDS = 50

/**
 * Folds `run` changes into one `runs` digest per session per window: a dashboard watching a session
 * that 100,000 runs are draining through gets a few small notifications a second instead of one per
 * run per transition. A change after a quiet spell goes out after `leadMs` (latency stays low); while
 * changes keep coming, digests are at least `windowMs` apart. `events` changes are folded the same
 * way (their run ids, or `truncated` when many). Other changes pass straight through,
 * after the digest pending before them, so their order relative to run changes is kept.
 */
export function createRunDigest<K = undefined>(options: {
  windowMs: number
  /** Delay of the first digest after a quiet spell. Default 10 ms. */
  leadMs?: number
  /** Receives each digest (with the key of the last change folded into it) and each other change. */
  emit: (change: C.Change, key: K | undefined) => void
  maxIds?: number
}) {
  const maxIds = options.maxIds ?? DIGEST_MAX_IDS
  const pending = new Map<
    string,
    { lanes: Set<C.Lane>; statuses: Set<C.RunStatus>; ids: Set<string> | null; count: number }
  >()
  let events: Set<string> | null | undefined
  let runsKey: K | undefined
  let eventsKey: K | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastFlush = Number.NEGATIVE_INFINITY
  const leadMs = options.leadMs ?? 10

  const flush = () => {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (pending.size === 0 && events === undefined) return
    lastFlush = Date.now()
    const entries = [...pending]
    pending.clear()
    // Each folded notification carries the key of the last change folded into it, and they go out
    // in the order of those keys, so a client resuming after any of them misses nothing.
    const emitRuns = () => {
      for (const [sessionId, d] of entries) {
        options.emit(
          {
            type: 'runs',
            sessionId,
            lanes: [...d.lanes].sort(),
            statuses: [...d.statuses].sort(),
            count: d.count,
            ids: d.ids ? [...d.ids] : null,
          },
          runsKey,
        )
      }
    }
    const folded = events
    const emitEvents = () => {
      if (folded === undefined) return
      options.emit(
        folded === null
          ? { type: 'events', runIds: [], truncated: true }
          : { type: 'events', runIds: [...folded] },
        eventsKey,
      )
    }
    events = undefined
    const eventsFirst =
      folded !== undefined &&
      entries.length > 0 &&
      typeof runsKey === 'number' &&
      typeof eventsKey === 'number' &&
      eventsKey < runsKey
    if (eventsFirst) {
      emitEvents()
      emitRuns()
    } else {
      emitRuns()
      emitEvents()
    }
  }

  return {
    push(change: C.Change, key?: K) {
      if (change.type === 'events') {
        // New events of many runs (every claim and completion writes some): folded like run changes.
        if (events === undefined) events = new Set()
        if (events !== null) {
          for (const id of change.runIds) events.add(id)
          if (change.truncated || events.size > maxIds) events = null
        }
        eventsKey = key
        if (!timer) timer = setTimeout(flush, Math.max(leadMs, lastFlush + options.windowMs - Date.now()))
        return
      }
      if (change.type !== 'run') {
        flush()
        options.emit(change, key)
        return
      }
      let d = pending.get(change.sessionId)
      if (!d) {
        d = { lanes: new Set(), statuses: new Set(), ids: new Set(), count: 0 }
        pending.set(change.sessionId, d)
      }
      d.lanes.add(change.lane)
      d.statuses.add(change.status)
      d.count++
      if (d.ids) {
        d.ids.add(change.id)
        if (d.ids.size > maxIds) d.ids = null
      }
      runsKey = key
      if (!timer) {
        timer = setTimeout(flush, Math.max(leadMs, lastFlush + options.windowMs - Date.now()))
      }
    },
    flush,
    stop() {
      if (timer) clearTimeout(timer)
      timer = undefined
      pending.clear()
    },
  }
}
