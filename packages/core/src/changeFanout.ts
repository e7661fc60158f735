import type { Unsubscribe } from './backend'
import type { Change } from './contract'

/** Fans one lazily opened change source out to many listeners. */
export interface ChangeFanout {
  /** Delivers a change to every listener; one listener's failure never starves the others. */
  emit(change: Change): void
  /** Adds a listener, opening the source for the first one; resolves once the source is open. */
  subscribe(listener: (change: Change) => void): Promise<Unsubscribe>
  /** Drops every listener and closes the source. */
  closeAll(): Promise<void>
}

/**
 * The subscription bookkeeping every backend shares: the source (a LISTEN connection, a Realtime
 * channel) is opened for the first listener, shared by all, and closed after the last one leaves, so
 * nothing listens while nobody watches. A source that fails to open is forgotten, so the next
 * subscribe tries again.
 */
export function createChangeFanout<H>(source: {
  open: (emit: (change: Change) => void) => Promise<H>
  close: (handle: H) => Promise<void>
}): ChangeFanout {
  const listeners = new Set<(change: Change) => void>()
  let handle: Promise<H> | undefined

  const emit = (change: Change) => {
    for (const l of listeners) {
      try {
        l(change)
      } catch {
        // isolate listeners
      }
    }
  }

  async function release() {
    const current = handle
    handle = undefined
    const h = await current?.catch(() => undefined)
    if (h !== undefined) await source.close(h)
  }

  return {
    emit,
    async subscribe(listener) {
      listeners.add(listener)
      if (!handle) {
        const opening = source.open(emit)
        handle = opening
        opening.catch(() => {
          if (handle === opening) handle = undefined
        })
      }
      try {
        await handle
      } catch (err) {
        listeners.delete(listener)
        throw err
      }
      let done = false
      return async () => {
        if (done) return
        done = true
        listeners.delete(listener)
        if (listeners.size === 0) await release()
      }
    },
    async closeAll() {
      listeners.clear()
      await release()
    },
  }
}
