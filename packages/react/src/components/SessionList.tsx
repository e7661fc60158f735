'use client'
import type { Session } from '@ops-control-room/core'
import { useEffect, useId, useState } from 'react'
import { useSessions } from '../hooks/useSessions'
import { cx } from './format'
import { RelativeTime } from './RelativeTime'

export interface SessionListProps {
  selectedId?: string
  onSelect?: (session: Session) => void
  /** Sessions per page ("Show more" adds a page). Default 50. */
  limit?: number
  /** Accessible name of the navigation. Default "Sessions". */
  label?: string
}

/**
 * The newest sessions as a navigation list with a name search and "Show more"; the selected one is
 * marked `aria-current`.
 */
export function SessionList({ selectedId, onSelect, limit = 50, label = 'Sessions' }: SessionListProps) {
  const [typed, setTyped] = useState('')
  const [search, setSearch] = useState('')
  const [pages, setPages] = useState(1)
  const searchId = useId()
  useEffect(() => {
    const t = setTimeout(() => {
      setSearch(typed.trim())
      setPages(1)
    }, 250)
    return () => clearTimeout(t)
  }, [typed])
  const shown = Math.min(1000, limit * pages)
  const sessions = useSessions({ limit: shown, search: search || undefined })
  const more = (sessions.data?.length ?? 0) >= shown && shown < 1000
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
      {more ? (
        <button type="button" className="ocr-button" onClick={() => setPages((p) => p + 1)}>
          Show more sessions
        </button>
      ) : null}
    </nav>
  )
}
