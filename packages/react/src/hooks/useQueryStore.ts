'use client'
import { useCallback, useMemo, useSyncExternalStore } from 'react'
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
