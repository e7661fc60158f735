'use client'
import { LANES, type Lane, RUN_STATUSES, type RunStatus } from '@ops-control-room/core/client'
import { useEffect, useId, useRef, useState } from 'react'
import type { RunListFilter } from '../store/runListStore'

/** What an operator filters by: plain strings, so the state fits in a URL. */
export interface RunFilterState {
  status?: RunStatus[]
  lane?: Lane
  kind?: string
  workerId?: string
  /** Text in params, errors, kind or progress message. */
  search?: string
  /** Created within: '15m', '1h' or '24h'. */
  range?: '15m' | '1h' | '24h'
}

const RANGES: Record<NonNullable<RunFilterState['range']>, [string, number]> = {
  '15m': ['Last 15 minutes', 15 * 60_000],
  '1h': ['Last hour', 60 * 60_000],
  '24h': ['Last 24 hours', 24 * 60 * 60_000],
}

/** The Runboard `filter` for a filter state (the time range counted back from `now`). */
export function toRunListFilter(state: RunFilterState, now = Date.now()): Omit<RunListFilter, 'sessionId'> {
  const filter: Omit<RunListFilter, 'sessionId'> = {}
  if (state.status && state.status.length > 0) filter.status = state.status
  if (state.lane) filter.lanes = [state.lane]
  if (state.kind) filter.kind = state.kind
  if (state.workerId) filter.workerId = state.workerId
  if (state.search) filter.search = state.search
  if (state.range && RANGES[state.range]) {
    // Rounded to the minute, so the filter (and the lists it keys) stays put between renders.
    filter.createdAfter = new Date(Math.floor((now - RANGES[state.range][1]) / 60_000) * 60_000).toISOString()
  }
  return filter
}

export interface RunFiltersProps {
  value: RunFilterState
  onChange(value: RunFilterState): void
  /** Wait this long after typing before applying text filters. Default 300 ms. */
  debounceMs?: number
}

type TextKey = 'kind' | 'workerId' | 'search'
const TEXT: [TextKey, string, string][] = [
  ['kind', 'Kind', 'e.g. deploy'],
  ['workerId', 'Worker', 'worker id'],
  ['search', 'Search', 'params, errors…'],
]

/**
 * Status, lane, kind, worker, text and time-range filters for the Runboard. Controlled: keep the
 * value where you like (the example app keeps it in the URL, so a filtered board can be shared) and
 * pass `toRunListFilter(value)` to `<Runboard filter>`.
 */
export function RunFilters({ value, onChange, debounceMs = 300 }: RunFiltersProps) {
  const id = useId()
  const [text, setText] = useState<Record<TextKey, string>>({
    kind: value.kind ?? '',
    workerId: value.workerId ?? '',
    search: value.search ?? '',
  })
  const latest = useRef({ value, onChange })
  latest.current = { value, onChange }
  // Only what the user typed is applied: text set from the value (a reload, back/forward) is not
  // written back, even by a timer that was pending when the value changed.
  const typedByUser = useRef(false)
  // The URL (back/forward) wins over what is being typed.
  useEffect(() => {
    typedByUser.current = false
    setText({ kind: value.kind ?? '', workerId: value.workerId ?? '', search: value.search ?? '' })
  }, [value.kind, value.workerId, value.search])
  useEffect(() => {
    const t = setTimeout(() => {
      if (!typedByUser.current) return
      typedByUser.current = false
      const { value: v, onChange: change } = latest.current
      const next: RunFilterState = { ...v }
      let changed = false
      for (const [k] of TEXT) {
        const typed = text[k].trim() || undefined
        if (typed !== v[k]) changed = true
        if (typed) next[k] = typed
        else delete next[k]
      }
      if (changed) change(next)
    }, debounceMs)
    return () => clearTimeout(t)
  }, [text, debounceMs])

  const statuses = new Set(value.status ?? [])
  const toggleStatus = (s: RunStatus, on: boolean) => {
    const next = RUN_STATUSES.filter((x) => (x === s ? on : statuses.has(x)))
    onChange({ ...value, status: next.length > 0 ? next : undefined })
  }
  return (
    <search className="ocr-filters" aria-label="Filter runs">
      <fieldset className="ocr-filters__statuses">
        <legend>Status</legend>
        {RUN_STATUSES.map((s) => (
          <label key={s}>
            <input
              type="checkbox"
              checked={statuses.has(s)}
              onChange={(e) => toggleStatus(s, e.target.checked)}
            />{' '}
            {s}
          </label>
        ))}
      </fieldset>
      <div className="ocr-filters__fields">
        <label htmlFor={`${id}-lane`}>Lane</label>
        <select
          id={`${id}-lane`}
          value={value.lane ?? ''}
          onChange={(e) => onChange({ ...value, lane: (e.target.value || undefined) as Lane | undefined })}
        >
          <option value="">All</option>
          {LANES.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
        {TEXT.map(([key, label, placeholder]) => (
          <span key={key} className="ocr-filters__field">
            <label htmlFor={`${id}-${key}`}>{label}</label>
            <input
              id={`${id}-${key}`}
              type={key === 'search' ? 'search' : 'text'}
              value={text[key]}
              placeholder={placeholder}
              onChange={(e) => {
                typedByUser.current = true
                setText((t) => ({ ...t, [key]: e.target.value }))
              }}
            />
          </span>
        ))}
        <label htmlFor={`${id}-range`}>Created</label>
        <select
          id={`${id}-range`}
          value={value.range ?? ''}
          onChange={(e) =>
            onChange({ ...value, range: (e.target.value || undefined) as RunFilterState['range'] })
          }
        >
          <option value="">Any time</option>
          {Object.entries(RANGES).map(([key, [label]]) => (
            <option key={key} value={key}>
              {label}
            </option>
          ))}
        </select>
        {Object.keys(value).length > 0 ? (
          <button type="button" className="ocr-button" onClick={() => onChange({})}>
            Clear filters
          </button>
        ) : null}
      </div>
    </search>
  )
}
