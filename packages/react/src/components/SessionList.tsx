'use client'
import type { Session } from '@ops-control-room/core'
import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { useSessions } from '../hooks/useSessions'
import { useOpsStore } from '../OpsProvider'
import { cx } from './format'
import { RelativeTime } from './RelativeTime'

export interface SessionListProps {
  selectedId?: string
  onSelect?: (session: Session) => void
  /** Sessions per page ("Show more" reads the next page by cursor). Default 50. */
  limit?: number
  /** Accessible name of the navigation. Default "Sessions". */
  label?: string
}

/**
 * The newest sessions as a navigation list with a name search and "Show more"; the selected one is
 * marked `aria-current`.
 */
export function SessionList({ selectedId, onSelect, limit = 50, label = 'Sessions' }: SessionListProps) {
  const ops = useOpsStore('SessionList')
  const [typed, setTyped] = useState('')
  const [search, setSearch] = useState('')
  // Older pages, read by keyset cursor and kept as read; the first page stays live. Each "Show more"
  // also keeps the live page as it was then, so a session pushed out of the first page by newer ones
  // is still shown.
  const [older, setOlder] = useState<{ sessions: Session[]; exhausted: boolean; loading: boolean }>({
    sessions: [],
    exhausted: false,
    loading: false,
  })
  const [moreError, setMoreError] = useState<string | null>(null)
  const searchId = useId()
  // A page read for an earlier search must not land in this one.
  const generation = useRef(0)
  useEffect(() => {
    const t = setTimeout(() => {
      generation.current++
      setSearch(typed.trim())
      setOlder({ sessions: [], exhausted: false, loading: false })
      setMoreError(null)
    }, 250)
    return () => clearTimeout(t)
  }, [typed])
  const head = useSessions({ limit, search: search || undefined })
  const list = useMemo(() => {
    const seen = new Set<string>()
    const all: Session[] = []
    for (const s of [...(head.data ?? []), ...older.sessions]) {
      if (seen.has(s.id)) continue
      seen.add(s.id)
      all.push(s)
    }
    return all
  }, [head.data, older.sessions])
  const sessions = { ...head, data: head.data ? list : undefined }
  const more =
    !older.exhausted && (older.sessions.length > 0 || (head.data?.length ?? 0) >= limit) && list.length > 0
  const showMore = async () => {
    const last = list.at(-1)
    if (!last?.cursor || older.loading) return
    const snapshot = list
    const asked = generation.current
    setOlder((o) => ({ ...o, loading: true }))
    setMoreError(null)
    try {
      const page = await ops.client.sessions.list({
        limit,
        cursor: last.cursor,
        ...(search ? { search } : {}),
      })
      if (asked !== generation.current) return
      setOlder({ sessions: [...snapshot, ...page], exhausted: page.length < limit, loading: false })
    } catch (err) {
      if (asked !== generation.current) return
      setOlder((o) => ({ ...o, loading: false }))
      setMoreError(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <nav className="ocr-sessions" aria-label={label}>
      <label htmlFor={searchId} className="ocr-sr-only">
        Search sessions
      </label>
      <input
        id={searchId}
        type="search"
        className="ocr-sessions__search"
        placeholder="Search sessions"
        value={typed}
        onChange={(e) => setTyped(e.target.value)}
      />
      {sessions.status === 'pending' ? <p className="ocr-muted">Loading sessions…</p> : null}
      {sessions.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load sessions: {sessions.error?.message}
        </p>
      ) : null}
      {sessions.data && sessions.data.length === 0 ? (
        <p className="ocr-muted">{search ? `No session matches “${search}”.` : 'No sessions yet.'}</p>
      ) : null}
      <ul>
        {sessions.data?.map((s) => (
          <li key={s.id}>
            <button
              type="button"
              className={cx('ocr-sessions__item', s.id === selectedId && 'is-selected')}
              aria-current={s.id === selectedId ? 'page' : undefined}
              onClick={() => onSelect?.(s)}
            >
              <span className="ocr-sessions__name">{s.name}</span>
              <span className="ocr-muted">
                <RelativeTime iso={s.createdAt} />
              </span>
            </button>
          </li>
        ))}
      </ul>
      {moreError ? (
        <p role="alert" className="ocr-error">
          Could not load more sessions: {moreError}
        </p>
      ) : null}
      {more ? (
        <button type="button" className="ocr-button" disabled={older.loading} onClick={() => void showMore()}>
          {older.loading ? 'Loading…' : 'Show more sessions'}
        </button>
      ) : null}
    </nav>
  )
}
