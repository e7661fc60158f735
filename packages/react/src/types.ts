/**
 * Types of `@ops-control-room/react`.
 *
 * Glossary
 * - session: a named group of runs; the Runboard shows one session's runs (or all recent runs).
 * - run: one unit of work with a kind, a lane (A–D) and a lifecycle queued → running → succeeded |
 *   failed | cancelled.
 * - kind: which handler executes a run. lane: one of four queues, one Runboard column each.
 * - claim, heartbeat, lease: how workers take runs and keep them; shown as the run's worker.
 * - artifact: an output of a run (a file, a link or text). template: a versioned run definition.
 * - store: watchable state with `subscribe` and `getSnapshot`, bound to React with
 *   `useSyncExternalStore`. It listens to the backend only while a component subscribes.
 */

/** Where a query stands. */
export type QueryStatus = 'pending' | 'success' | 'error'

/** The snapshot a query hook returns. Stable by identity until something changes. */
export interface QueryState<T> {
  /** The last data read; kept while a refetch runs or after a later refetch fails. */
  data: T | undefined
  /** The last read's error, if it failed. */
  error: Error | undefined
  status: QueryStatus
  /** A read is in flight. */
  isFetching: boolean
  /** When data was last read (ms since the epoch); 0 before the first read. */
  updatedAt: number
}

/** What a query hook returns: its state plus a way to read again now. */
export interface QueryResult<T> extends QueryState<T> {
  refetch(): Promise<void>
}

/**
 * The state of the live connection (the backend's change stream): `error` while it is reconnecting
 * (a failed subscribe, or a backend that reported its stream lost), `offline` while the browser says
 * it has no network.
 */
export type LiveStatus = 'idle' | 'connecting' | 'live' | 'error' | 'offline'
