'use client'
import type { Lane } from '@ops-control-room/core'
import { useCallback, useMemo, useRef, useSyncExternalStore } from 'react'
import { useOpsStore } from '../OpsProvider'
import {
  createRunListStore,
  type RunListFilter,
  type RunListOptions,
  type RunListState,
} from '../store/runListStore'

/** What `useRunList` returns: the lanes' loaded runs, and ways to page and reload. */
export interface RunListResult extends RunListState {
  loadMore(lane: Lane): Promise<void>
  reload(): Promise<void>
}

/**
 * Live run lists per lane, paged newest first and kept current incrementally (see
 * `createRunListStore`): right at any session size, without re-reading the list on each change.
 */
export function useRunList(filter: RunListFilter = {}, options: RunListOptions = {}): RunListResult {
  const ops = useOpsStore('useRunList')
  const key = JSON.stringify([filter, options])
  // biome-ignore lint/correctness/useExhaustiveDependencies: key stands for filter and options
  const store = useMemo(() => createRunListStore(ops.client, ops.hub, filter, options), [ops, key])
  // The first page's request leaves while the board renders, not after the first paint (when
  // useSyncExternalStore subscribes); the subscription joins it.
  const prefetched = useRef<unknown>(null)
  if (prefetched.current !== store) {
    prefetched.current = store
    if (store.getSnapshot().status === 'pending') void store.reload().catch(() => {})
  }
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot)
  const loadMore = useCallback((lane: Lane) => store.loadMore(lane), [store])
  const reload = useCallback(() => store.reload(), [store])
  return useMemo(() => ({ ...state, loadMore, reload }), [state, loadMore, reload])
}
