import type { Change } from '@ops-control-room/core'
import type { QueryState } from '../types'
import type { ChangeHub } from './changeHub'

export interface QueryStoreOptions<T> {
  /** Reads the data; gets the previous data so a tail can read only what is new. */
  fetch(previous: T | undefined): Promise<T>
  /** Whether a change makes this query's data stale. Without it, the query is not live. */
  isAffectedBy?(change: Change, data: T | undefined): boolean
  /** Changes arriving within this window cause one read, not one each. Default 20 ms. */
  coalesceMs?: number
  /** Also read every this many ms while watched (for data without change notifications). */
  pollMs?: number
}

/** Watchable query state: `subscribe` + `getSnapshot`, for `useSyncExternalStore`. */
export interface QueryStore<T> {
  subscribe(onStoreChange: () => void): () => void
  getSnapshot(): QueryState<T>
  /** Reads now (joins a read already in flight, then reads once more if it was marked stale). */
  refetch(): Promise<void>
  /** Marks the data stale: read soon if someone watches, else on the next subscribe. */
  invalidate(): void
  /** How many subscribers it has. */
  readonly size: number
}

const initialState: QueryState<never> = {
  data: undefined,
  error: undefined,
  status: 'pending',
  isFetching: false,
  updatedAt: 0,
}

/**
 * A query over the client that listens to the change hub only while subscribed. Changes are
 * coalesced: a burst of notifications costs one read, and at most one read runs at a time (a change
 * during a read schedules exactly one more). This is refetch-on-notification: notifications carry
 * no rows, so the data shown is always what the backend returns.
 */
export function createQueryStore<T>(hub: ChangeHub, options: QueryStoreOptions<T>): QueryStore<T> {
  const coalesceMs = options.coalesceMs ?? 20
  const subscribers = new Set<() => void>()
  let state: QueryState<T> = initialState
  let inflight: Promise<void> | undefined
  let again = false
  let stale = true
  let timer: ReturnType<typeof setTimeout> | undefined
  let poll: ReturnType<typeof setInterval> | undefined
  let stopListening: (() => void) | undefined

  const set = (patch: Partial<QueryState<T>>) => {
    state = { ...state, ...patch }
    for (const s of subscribers) s()
  }

  const read = (): Promise<void> => {
    if (inflight) {
      again = true
      return inflight
    }
    stale = false
    set({ isFetching: true })
    inflight = (async () => {
      try {
        const data = await options.fetch(state.data)
        set({ data, error: undefined, status: 'success', isFetching: false, updatedAt: Date.now() })
      } catch (err) {
        set({
          error: err instanceof Error ? err : new Error(String(err)),
          status: state.data === undefined ? 'error' : state.status,
          isFetching: false,
        })
      } finally {
        inflight = undefined
      }
      if (again) {
        again = false
        if (subscribers.size > 0) await read()
        else stale = true
      }
    })()
    return inflight
  }

  const schedule = () => {
    if (subscribers.size === 0) {
      stale = true
      return
    }
    if (inflight) {
      again = true
      return
    }
    if (timer) return
    timer = setTimeout(() => {
      timer = undefined
      void read()
    }, coalesceMs)
  }

  const start = () => {
    if (options.isAffectedBy) {
      const isAffectedBy = options.isAffectedBy
      stopListening = hub.listen({
        onChange: (change) => {
          if (isAffectedBy(change, state.data)) schedule()
        },
        onLive: schedule,
      })
    }
    if (options.pollMs) poll = setInterval(schedule, options.pollMs)
    // A read already in flight (a prefetch) brings what a new one would.
    if (!inflight && (stale || state.status !== 'success')) void read()
  }

  const stop = () => {
    stopListening?.()
    stopListening = undefined
    clearInterval(poll)
    poll = undefined
    if (timer) {
      clearTimeout(timer)
      timer = undefined
      stale = true
    }
    // A live query that nobody watches cannot know whether it is current.
    if (options.isAffectedBy || options.pollMs) stale = true
  }

  return {
    subscribe(onStoreChange) {
      subscribers.add(onStoreChange)
      if (subscribers.size === 1) start()
      return () => {
        if (subscribers.delete(onStoreChange) && subscribers.size === 0) stop()
      }
    },
    getSnapshot: () => state,
    refetch: read,
    invalidate: schedule,
    get size() {
      return subscribers.size
    },
  }
}
