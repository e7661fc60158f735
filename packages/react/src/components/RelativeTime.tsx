'use client'
import { useNow } from '../hooks/useNow'
import { formatDuration } from './format'

/** "12s ago" / "in 3m 05s", with the exact time and its zone on hover (or UTC with `utc`). */
export function RelativeTime({ iso, utc = false }: { iso: string; utc?: boolean }) {
  const now = useNow(5000)
  const t = Date.parse(iso)
  const diff = (now || Date.now()) - t
  const exact = utc
    ? `${new Date(t)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')}`
    : new Date(t).toLocaleString(undefined, { timeZoneName: 'short' })
  const text =
    Math.abs(diff) < 2000
      ? 'just now'
      : diff > 0
        ? `${formatDuration(diff)} ago`
        : `in ${formatDuration(-diff)}`
  return (
    <time dateTime={iso} title={exact}>
      {text}
    </time>
  )
}
