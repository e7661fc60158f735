'use client'
import { useNow } from '../hooks/useNow'
import { formatDuration } from './format'
import { formatExact, useUtc } from './TimeFormat'

/**
 * "12s ago" / "in 3m 05s", with the exact time and its zone on hover: local, or UTC under
 * `<TimeFormatProvider utc>` (or with `utc`).
 */
export function RelativeTime({ iso, utc }: { iso: string; utc?: boolean }) {
  const now = useNow(5000)
  const inUtc = useUtc()
  const diff = (now || Date.now()) - Date.parse(iso)
  const text =
    Math.abs(diff) < 2000
      ? 'just now'
      : diff > 0
        ? `${formatDuration(diff)} ago`
        : `in ${formatDuration(-diff)}`
  return (
    <time dateTime={iso} title={formatExact(iso, utc ?? inUtc)}>
      {text}
    </time>
  )
}
