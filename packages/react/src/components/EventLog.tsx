'use client'
import { EVENT_LEVELS, type EventLevel, type RunEvent } from '@ops-control-room/core/client'
import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { useRunEvents } from '../hooks/useRunEvents'
import { formatTime } from './format'
import { formatExact, useUtc } from './TimeFormat'

export interface EventLogProps {
  runId: string
  /** Levels shown at first. Default: all. */
  initialLevels?: EventLevel[]
}

/** One line per event, as downloaded: ISO time, level, type, message, and its data as JSON. */
export function eventsAsText(events: readonly RunEvent[]): string {
  return events
    .map(
      (e) =>
        `${e.createdAt} ${e.level.toUpperCase()} ${e.type} ${e.message}${e.data == null ? '' : ` ${JSON.stringify(e.data)}`}`,
    )
    .join('\n')
}

/**
 * A run's live event log: level filters and a text search (instant and local), each event's data,
 * a download of what is shown, and a tail that follows new lines while scrolled to the bottom (scroll
 * up to read, and it stays put).
 */
export function EventLog({ runId, initialLevels = [...EVENT_LEVELS] }: EventLogProps) {
  const events = useRunEvents(runId)
  const utc = useUtc()
  const [levels, setLevels] = useState<Set<EventLevel>>(() => new Set(initialLevels))
  const [query, setQuery] = useState('')
  const headingId = useId()
  const listRef = useRef<HTMLOListElement>(null)
  const atBottom = useRef(true)
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase()
    return (events.data ?? []).filter(
      (e) =>
        levels.has(e.level) &&
        (!q ||
          e.message.toLowerCase().includes(q) ||
          e.type.toLowerCase().includes(q) ||
          (e.data != null && JSON.stringify(e.data).toLowerCase().includes(q))),
    )
  }, [events.data, levels, query])
  const toggle = (level: EventLevel) =>
    setLevels((prev) => {
      const next = new Set(prev)
      if (next.has(level)) next.delete(level)
      else next.add(level)
      return next
    })

  // Follow the tail: new lines scroll into view only if the reader was already at the bottom.
  useLayoutEffect(() => {
    const el = listRef.current
    if (el && atBottom.current && shown.length > 0) el.scrollTop = el.scrollHeight
  }, [shown])
  const onScroll = () => {
    const el = listRef.current
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24
  }

  const [href, setHref] = useState<string | null>(null)
  useEffect(() => () => (href ? URL.revokeObjectURL(href) : undefined), [href])
  const download = () => {
    const url = URL.createObjectURL(new Blob([eventsAsText(shown)], { type: 'text/plain' }))
    setHref(url)
    const a = document.createElement('a')
    a.href = url
    a.download = `run-${runId.slice(0, 8)}-events.log`
    a.click()
  }

  return (
    <section className="ocr-events" aria-labelledby={headingId}>
      <h3 id={headingId}>
        Events{' '}
        <span className="ocr-muted">
          ({shown.length} of {events.data?.length ?? 0})
        </span>
      </h3>
      <div className="ocr-events__tools">
        <fieldset className="ocr-events__filters">
          <legend>Levels</legend>
          {EVENT_LEVELS.map((level) => (
            <label key={level} data-level={level}>
              <input type="checkbox" checked={levels.has(level)} onChange={() => toggle(level)} /> {level}
            </label>
          ))}
        </fieldset>
        <label className="ocr-events__search">
          Search events <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <button type="button" className="ocr-button" onClick={download} disabled={shown.length === 0}>
          Download log
        </button>
      </div>
      {events.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load events: {events.error?.message}
        </p>
      ) : null}
      <ol
        ref={listRef}
        className="ocr-events__list"
        aria-live="polite"
        aria-relevant="additions"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
        aria-label="Event log"
        onScroll={onScroll}
      >
        {shown.map((e) => (
          <li key={e.id} className="ocr-event" data-level={e.level}>
            <time dateTime={e.createdAt} title={formatExact(e.createdAt, utc)}>
              {utc ? e.createdAt.slice(11, 23) : formatTime(e.createdAt)}
            </time>
            <span className="ocr-event__level">{e.level}</span>
            <span className="ocr-event__type">{e.type}</span>
            <span className="ocr-event__message">
              {e.message}
              {e.data == null ? null : (
                <details className="ocr-event__data">
                  <summary>data</summary>
                  <code>{JSON.stringify(e.data, null, 2)}</code>
                </details>
              )}
            </span>
          </li>
        ))}
      </ol>
    </section>
  )
}
