/**
 * The keyset cursor of the sessions list: a session's exact position in the order
 * `created_at desc, id`. Opaque to callers (base64url); inside, the creation time in microseconds
 * (UTC, as Postgres stores it) and the id, so sessions created in the same millisecond, or the same
 * microsecond, are neither skipped nor repeated at a page boundary.
 */

/** Decoded cursor: `at` is `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds), `id` a uuid. */
export interface SessionCursorKey {
  at: string
  id: string
}

const VERSION = 's1'
const KEY =
  /^s1\|(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/
/** Longer than any cursor this module makes: a bound on the work of decoding one a client sent. */
export const MAX_SESSION_CURSOR_LENGTH = 120

/** The cursor of a session at `at` (microsecond UTC text from Postgres) with `id`. */
export function encodeSessionCursor(at: string, id: string): string {
  const text = `${VERSION}|${at}|${id.toLowerCase()}`
  if (!KEY.test(text)) throw new TypeError(`not a session position: ${at} ${id}`)
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** The position in a cursor, or null when it is not one this module made. */
export function decodeSessionCursor(cursor: string): SessionCursorKey | null {
  if (cursor.length > MAX_SESSION_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null
  let text: string
  try {
    text = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'))
  } catch {
    return null
  }
  const m = KEY.exec(text)
  if (!m) return null
  const at = m[1] as string
  // The shape alone admits February 31 or second 61: Postgres would refuse those with a driver error.
  const ms = Date.parse(at)
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== at.slice(0, 19)) return null
  return { at, id: m[2] as string }
}
