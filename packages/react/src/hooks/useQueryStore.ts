'use client'
import { useCallback, useMemo, useRef, useSyncExternalStore } from 'react'
import type { QueryStore } from '../store/queryStore'
import type { QueryResult, QueryState } from '../types'

const disabled: QueryState<never> = {
  data: undefined,
  error: undefined,
  status: 'pending',
  isFetching: false,
  updatedAt: 0,
}
const noop = () => () => {}

/** Binds a query store (or nothing, for a disabled query) to React with useSyncExternalStore. */
export function useQueryStore<T>(store: QueryStore<T> | null): QueryResult<T> {
  const subscribe = store ? store.subscribe : noop
  const getSnapshot = store ? store.getSnapshot : () => disabled as QueryState<T>
  const state = useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
  const refetch = useCallback(() => (store ? store.refetch() : Promise.resolve()), [store])
  return useMemo(() => ({ ...state, refetch }), [state, refetch])
}

/**
 * Starts a never-read store's first read while rendering, not after the first paint (when
 * useSyncExternalStore subscribes): for the board's critical queries, the request leaves while the
 * page renders. Idempotent; the subscription joins the read in flight.
 */
export function usePrefetch(
  store: { getSnapshot(): QueryState<unknown>; refetch(): Promise<void> } | null,
): void {
  const done = useRef<unknown>(null)
  if (store && done.current !== store) {
    done.current = store
    const s = store.getSnapshot()
    if (s.status === 'pending' && !s.isFetching && s.updatedAt === 0) void store.refetch().catch(() => {})
  }
}
