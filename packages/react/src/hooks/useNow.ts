'use client'
import { useSyncExternalStore } from 'react'

interface Ticker {
  subscribe(cb: () => void): () => void
  get(): number
}

const tickers = new Map<number, Ticker>()

/** One shared timer per interval, running only while someone subscribes. */
function ticker(intervalMs: number): Ticker {
  let t = tickers.get(intervalMs)
  if (t) return t
  const subscribers = new Set<() => void>()
  let now = Date.now()
  let timer: ReturnType<typeof setInterval> | undefined
  t = {
    subscribe(cb) {
      subscribers.add(cb)
      if (!timer) {
        now = Date.now()
        timer = setInterval(() => {
          now = Date.now()
          for (const s of subscribers) s()
        }, intervalMs)
      }
      return () => {
        subscribers.delete(cb)
        if (subscribers.size === 0 && timer) {
          clearInterval(timer)
          timer = undefined
        }
      }
    },
    get: () => now,
  }
  tickers.set(intervalMs, t)
  return t
}

/** The current time, updated every `intervalMs` while `active` (for elapsed-time displays). */
export function useNow(intervalMs = 1000, active = true): number {
  const t = ticker(intervalMs)
  return useSyncExternalStore(active ? t.subscribe : noop, t.get, t.get)
}
const noop = () => () => {}
