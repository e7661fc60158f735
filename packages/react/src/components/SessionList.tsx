'use client'
import type { Session } from '@ops-control-room/core'
import { useSessions } from '../hooks/useSessions'
import { cx } from './format'

export interface SessionListProps {
  selectedId?: string
  onSelect?: (session: Session) => void
  /** Most sessions to show. Default 50. */
  limit?: number
  /** Accessible name of the navigation. Default "Sessions". */
  label?: string
}

/** The newest sessions as a navigation list; the selected one is marked `aria-current`. */
export function SessionList({ selectedId, onSelect, limit, label = 'Sessions' }: SessionListProps) {
  const sessions = useSessions({ limit })
  return (
    <nav className="ocr-sessions" aria-label={label}>
      {sessions.status === 'pending' ? <p className="ocr-muted">Loading sessions…</p> : null}
      {sessions.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load sessions: {sessions.error?.message}
        </p>
      ) : null}
      {sessions.data && sessions.data.length === 0 ? <p className="ocr-muted">No sessions yet.</p> : null}
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
              <time className="ocr-muted" dateTime={s.createdAt}>
                {new Date(s.createdAt).toLocaleString()}
              </time>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  )
}
