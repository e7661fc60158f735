'use client'
import { EVENT_LEVELS, type EventLevel } from '@ops-control-room/core'
import { useId, useMemo, useState } from 'react'
import { useRunEvents } from '../hooks/useRunEvents'
import { formatTime } from './format'

export interface EventLogProps {
  runId: string
  /** Levels shown at first. Default: all. */
  initialLevels?: EventLevel[]
}

/** A run's live event log with level filters (checkboxes; filtering is instant and local). */
export function EventLog({ runId, initialLevels = [...EVENT_LEVELS] }: EventLogProps) {
  const events = useRunEvents(runId)
  const [levels, setLevels] = useState<Set<EventLevel>>(() => new Set(initialLevels))
  const headingId = useId()
  const shown = useMemo(() => (events.data ?? []).filter((e) => levels.has(e.level)), [events.data, levels])
  const toggle = (level: EventLevel) =>
    setLevels((prev) => {
      const next = new Set(prev)
      if (next.has(level)) next.delete(level)
      else next.add(level)
      return next
    })
  return (
    <section className="ocr-events" aria-labelledby={headingId}>
      <h3 id={headingId}>
        Events{' '}
        <span className="ocr-muted">
          ({shown.length} of {events.data?.length ?? 0})
        </span>
      </h3>
      <fieldset className="ocr-events__filters">
        <legend>Levels</legend>
        {EVENT_LEVELS.map((level) => (
          <label key={level} data-level={level}>
            <input type="checkbox" checked={levels.has(level)} onChange={() => toggle(level)} /> {level}
          </label>
        ))}
      </fieldset>
      {events.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load events: {events.error?.message}
        </p>
      ) : null}
      <ol
        className="ocr-events__list"
        aria-live="polite"
        aria-relevant="additions"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
        aria-label="Event log"
      >
        {shown.map((e) => (
          <li key={e.id} className="ocr-event" data-level={e.level}>
            <time dateTime={e.createdAt}>{formatTime(e.createdAt)}</time>
            <span className="ocr-event__level">{e.level}</span>
            <span className="ocr-event__type">{e.type}</span>
            <span className="ocr-event__message">{e.message}</span>
          </li>
        ))}
      </ol>
    </section>
  )
}
