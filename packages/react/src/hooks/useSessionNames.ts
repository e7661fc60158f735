'use client'
import { useEffect, useMemo, useRef, useState } from 'react'
import { useOpsStore } from '../OpsProvider'

/** Sessions read at once at most (a board of all recent runs shows a few dozen). */
const MAX_IDS = 200

/**
 * The names of these sessions, read once each (a session's name does not change) and kept while
 * mounted: for run lists that mix sessions, such as the board of all recent runs. Unknown or
 * unreadable sessions are left out; an empty list reads nothing.
 */
export function useSessionNames(sessionIds: readonly string[]): ReadonlyMap<string, string> {
  const ops = useOpsStore('useSessionNames')
  const [names, setNames] = useState<ReadonlyMap<string, string>>(() => new Map())
  const asked = useRef(new Set<string>())
  const key = useMemo(() => [...new Set(sessionIds)].sort().slice(0, MAX_IDS).join(','), [sessionIds])
  useEffect(() => {
    const missing = key ? key.split(',').filter((id) => !asked.current.has(id)) : []
    if (missing.length === 0) return
    for (const id of missing) asked.current.add(id)
    let live = true
    void Promise.all(
      missing.map((id) =>
        ops.client.sessions.get(id).then(
          (s) => [id, s.name] as const,
          () => null,
        ),
      ),
    ).then((found) => {
      if (!live) {
        for (const id of missing) asked.current.delete(id)
        return
      }
      setNames((prev) => {
        const next = new Map(prev)
        for (const f of found) if (f) next.set(f[0], f[1])
        return next
      })
    })
    return () => {
      live = false
    }
  }, [ops, key])
  return names
}
