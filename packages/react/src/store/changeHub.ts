import type { Change, OpsClient, Unsubscribe } from '@ops-control-room/core'
import type { LiveStatus } from '../types'

/** Someone interested in live changes. */
export interface ChangeListener {
  onChange(change: Change): void
  /** Called each time the stream (re)connects: changes may have been missed, so read again. */
  onLive?(): void
}

/** One shared subscription to a client's change stream, fanned out to many listeners. */
export interface ChangeHub {
  /** Adds a listener; the stream opens with the first and closes (after a grace period) with the last. */
  listen(listener: ChangeListener): () => void
  /** Live status as a store. */
  subscribeStatus(onStoreChange: () => void): () => void
  getStatus(): LiveStatus
  /** The last connection error, if the status is 'error'. */
  getError(): Error | undefined
  /** Closes the stream now, whoever still listens. */
  dispose(): void
}

export interface ChangeHubOptions {
  /** How long the stream stays open after the last listener leaves (avoids churn on re-mounts). */
  lingerMs?: number
  /** First delay before reconnecting after a failed subscribe; doubles up to 30 s. */
  retryMs?: number
}

/**
 * Creates a hub over `client.subscribe`. One stream per client, however many hooks watch: with the
 * http backend that is one SSE connection per browser tab, not one per component.
 */
export function createChangeHub(client: OpsClient, options: ChangeHubOptions = {}): ChangeHub {
  const lingerMs = options.lingerMs ?? 1000
  const retryMs = options.retryMs ?? 500
  const listeners = new Set<ChangeListener>()
  const statusListeners = new Set<() => void>()
  let status: LiveStatus = 'idle'
  let error: Error | undefined
  let unsubscribe: Unsubscribe | undefined
  let generation = 0
  let lingerTimer: ReturnType<typeof setTimeout> | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let attempt = 0
  let stopWatching: (() => void) | undefined
  let offline = false
  /** What the stream says, before the browser's offline state overrides it. */
  let streamStatus: LiveStatus = 'idle'

  const setStatus = (next: LiveStatus, err?: Error) => {
    streamStatus = next
    const shown = offline && next !== 'idle' ? 'offline' : next
    if (status === shown && error === err) return
    status = shown
    error = err
    for (const l of statusListeners) l()
  }

  // The browser knows before any timeout that the network is gone; say so at once, and resync
  // when it is back (the backend reconnects on its own; listeners re-read on `live`).
  const onOffline = () => {
    offline = true
    setStatus(streamStatus, error)
  }
  const onOnline = () => {
    offline = false
    setStatus(streamStatus, error)
  }
  const win = typeof window === 'undefined' ? undefined : window
  if (win?.addEventListener) {
    offline = win.navigator?.onLine === false
    win.addEventListener('offline', onOffline)
    win.addEventListener('online', onOnline)
  }

  const dispatch = (change: Change) => {
    for (const l of listeners) {
      try {
        l.onChange(change)
      } catch (err) {
        // One broken listener must not starve the others of changes.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  const open = () => {
    const mine = ++generation
    setStatus('connecting')
    // A listener of this generation's own: a backend keeps listeners in a Set, so reusing one
    // function across a close and a re-open (React StrictMode does exactly that) would let the stale
    // subscription's late unsubscribe remove the live one's listener too.
    const listener = (change: Change) => dispatch(change)
    client.subscribe(listener).then(
      (unsub) => {
        if (mine !== generation) {
          void unsub()
          return
        }
        unsubscribe = unsub
        attempt = 0
        setStatus('live')
        // A backend that can lose its stream after subscribing (http: SSE) says so: show it, and
        // re-read everything when it is back, since changes may have been missed.
        stopWatching?.()
        stopWatching = client.backend.watchConnection?.((state) => {
          if (mine !== generation) return
          if (state === 'reconnecting') {
            setStatus('error', new Error('the live stream was lost; reconnecting'))
          } else {
            setStatus('live')
            for (const l of listeners) l.onLive?.()
          }
        })
        for (const l of listeners) l.onLive?.()
      },
      (err: unknown) => {
        if (mine !== generation) return
        setStatus('error', err instanceof Error ? err : new Error(String(err)))
        const delay = Math.min(retryMs * 2 ** attempt++, 30_000)
        retryTimer = setTimeout(() => {
          retryTimer = undefined
          if (listeners.size > 0) open()
        }, delay)
      },
    )
  }

  const close = () => {
    generation++
    stopWatching?.()
    stopWatching = undefined
    clearTimeout(retryTimer)
    retryTimer = undefined
    const unsub = unsubscribe
    unsubscribe = undefined
    if (unsub) void unsub().catch(() => {})
    setStatus('idle')
  }

  return {
    listen(listener) {
      listeners.add(listener)
      if (lingerTimer) {
        clearTimeout(lingerTimer)
        lingerTimer = undefined
      }
      // Already live: the listener's own first read comes after this point, so nothing is missed.
      if (status === 'idle') open()
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return
        lingerTimer = setTimeout(() => {
          lingerTimer = undefined
          if (listeners.size === 0) close()
        }, lingerMs)
      }
    },
    subscribeStatus(onStoreChange) {
      statusListeners.add(onStoreChange)
      return () => statusListeners.delete(onStoreChange)
    },
    getStatus: () => status,
    getError: () => error,
    dispose() {
      win?.removeEventListener?.('offline', onOffline)
      win?.removeEventListener?.('online', onOnline)
      clearTimeout(lingerTimer)
      lingerTimer = undefined
      listeners.clear()
      close()
    },
  }
}
