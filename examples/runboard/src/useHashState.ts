import { useCallback, useSyncExternalStore } from 'react'

/** The selected session and run live in the URL hash (#session=…&run=…): reload and back work. */
const subscribe = (cb: () => void) => {
  window.addEventListener('hashchange', cb)
  return () => window.removeEventListener('hashchange', cb)
}
const read = () => window.location.hash

export function useHashState(): [
  { session?: string; run?: string },
  (next: { session?: string | null; run?: string | null }) => void,
] {
  const hash = useSyncExternalStore(subscribe, read, () => '')
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  const state = { session: params.get('session') ?? undefined, run: params.get('run') ?? undefined }
  const set = useCallback((next: { session?: string | null; run?: string | null }) => {
    const p = new URLSearchParams(window.location.hash.replace(/^#/, ''))
    for (const [k, v] of Object.entries(next)) {
      if (v === null) p.delete(k)
      else if (v !== undefined) p.set(k, v)
    }
    window.location.hash = p.toString()
  }, [])
  return [state, set]
}
