import type { RunFilterState } from '@ops-control-room/react'
import { useCallback, useMemo, useSyncExternalStore } from 'react'

/** Everything the URL hash holds: the session, the open run, and the filters. */
export interface HashState extends RunFilterState {
  session?: string
  run?: string
  /** 'workers' shows the fleet instead of the board. */
  view?: string
}

const subscribe = (cb: () => void) => {
  window.addEventListener('hashchange', cb)
  return () => window.removeEventListener('hashchange', cb)
}
const read = () => window.location.hash

const KEYS = ['session', 'run', 'view', 'status', 'lane', 'kind', 'workerId', 'search', 'range'] as const
type Key = (typeof KEYS)[number]

function parse(hash: string): HashState {
  const p = new URLSearchParams(hash.replace(/^#/, ''))
  const state: Record<string, unknown> = {}
  for (const k of KEYS) {
    const v = p.get(k)
    if (v) state[k] = k === 'status' ? v.split(',').filter(Boolean) : v
  }
  return state as HashState
}

/**
 * The selected session, run and filters live in the URL hash (#session=…&run=…&status=failed):
 * reload, back/forward and a shared link show the same board.
 */
export function useHashState(): [HashState, (next: { [K in Key]?: HashState[K] | null }) => void] {
  const hash = useSyncExternalStore(subscribe, read, () => '')
  const state = useMemo(() => parse(hash), [hash])
  const set = useCallback((next: { [K in Key]?: HashState[K] | null }) => {
    const p = new URLSearchParams(window.location.hash.replace(/^#/, ''))
    for (const [k, v] of Object.entries(next)) {
      if (v === null || (Array.isArray(v) && v.length === 0)) p.delete(k)
      else if (v !== undefined) p.set(k, Array.isArray(v) ? v.join(',') : String(v))
    }
    window.location.hash = p.toString()
  }, [])
  return [state, set]
}
