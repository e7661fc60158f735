import { type Backend, filterChanges, type Unsubscribe } from '../backend'
import type * as C from '../contract'
import { errorFromJSON, isOpsError, type OpsError, type OpsErrorJSON, UnavailableError } from '../errors'
import { createRemoteOperations, type ExecutorCall, toQueryString } from './remoteOperations'
import { readServerSentEvents } from './sse'

/** A bearer token, or a function that returns a fresh one (called for every request). */
export type TokenSource = string | (() => string | Promise<string>)

export interface HttpBackendOptions {
  /** The executor API's base URL: `https://<project>.supabase.co/functions/v1/ops-executor` or `http://localhost:8787`. */
  url: string
  /** A JWT whose `role` claim picks the database role (service_role for workers). */
  token: TokenSource
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch
  /** Extra headers for every request (Supabase's gateway also wants `apikey`). */
  headers?: Record<string, string>
  /** Per-request timeout in ms. Default 30 000. */
  timeoutMs?: number
  /** How `subscribe` gets changes: the SSE stream (falling back to polling when it is missing), or polling only. */
  live?: 'auto' | 'poll'
  /** Polling interval when polling. Default 2000 ms. */
  pollIntervalMs?: number
  /**
   * Ask the server to fold run changes into one `runs` digest per session per this many ms (50–10 000).
   * For dashboards: a session draining thousands of runs a second then costs a few small events a
   * second instead of one per run per transition. Cancels, wake-ups and events are not folded.
   */
  digestMs?: number
}

/** Whether a backend's live connection is up; see `Backend.watchConnection`. */
export type ConnectionState = 'live' | 'reconnecting'

const LANE_LIST = ['A', 'B', 'C', 'D'] as const

/** Waits `ms`, or less if `signal` aborts: no timer outlives a stopped subscription. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}

/**
 * The error code of an answer without the executor's error body: a gateway's or proxy's own 401
 * (Supabase's "Invalid JWT"), 413 or 502 is typed by its status. A bare 404 stays `internal`: it
 * means a wrong URL or route, never "no such run" (which would read as `null`).
 */
export function codeOfStatus(status: number): OpsErrorJSON['code'] {
  switch (status) {
    case 400:
    case 422:
      return 'validation'
    case 401:
      return 'unauthorized'
    case 403:
      return 'forbidden'
    case 408:
    case 504:
      return 'timeout'
    case 409:
      return 'conflict'
    case 413:
      return 'payload_too_large'
    case 429:
      return 'rate_limited'
    default:
      return status >= 500 ? 'unavailable' : 'internal'
  }
}

/**
 * Reads an executor error answer into a typed OpsError. An answer without the executor's error body
 * is typed by its status (`codeOfStatus`), with the start of its text in the message.
 */
export async function errorFromResponse(response: Response): Promise<OpsError> {
  let text = ''
  try {
    text = await readAtMost(response, 256 * 1024)
  } catch {
    text = ''
  }
  let body: unknown
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = undefined
  }
  const error = (body as { error?: OpsErrorJSON } | undefined)?.error
  if (error && typeof error.code === 'string' && typeof error.message === 'string')
    return errorFromJSON(error)
  const said = (
    (body as { message?: unknown; msg?: unknown } | undefined)?.message ??
    (body as { msg?: unknown } | undefined)?.msg ??
    text
  )
    .toString()
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200)
  return errorFromJSON({
    code: codeOfStatus(response.status),
    message: `the executor answered ${response.status} ${response.statusText}${said ? `: ${said}` : ''}`,
  })
}

/** The body as text, up to `limit` bytes (a hostile or broken server cannot make the client buffer more). */
async function readAtMost(response: Response, limit: number): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < limit) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
  const all = new Uint8Array(Math.min(size, limit))
  let at = 0
  for (const c of chunks) {
    const part = c.subarray(0, all.length - at)
    all.set(part, at)
    at += part.length
    if (at >= all.length) break
  }
  return new TextDecoder().decode(all)
}

/**
 * A backend over the executor API (HTTP + JSON), so `createOpsClient` and the worker run unchanged
 * where there is no database connection. `subscribe` reads the server's SSE stream (`GET /changes`),
 * reconnecting with `Last-Event-ID`; where the stream is unavailable it polls instead.
 *
 * @example
 * const ops = createOpsClient({ backend: httpBackend({ url: 'http://localhost:8787', token: serviceRoleJwt }) })
 */
export function httpBackend(options: HttpBackendOptions): Backend {
  if (!options?.url || options.token === undefined) {
    throw new TypeError('httpBackend needs { url, token }')
  }
  const base = options.url.replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const timeoutMs = options.timeoutMs ?? 30_000
  const pollIntervalMs = options.pollIntervalMs ?? 2000
  const token = async () => (typeof options.token === 'function' ? await options.token() : options.token)
  let closed = false

  async function headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return { ...options.headers, authorization: `Bearer ${await token()}`, ...extra }
  }

  const call: ExecutorCall = async (method, path, { body, query } = {}) => {
    let response: Response
    try {
      response = await doFetch(`${base}${path}${toQueryString(query)}`, {
        method,
        headers: await headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw new UnavailableError(`the executor API at ${base} is unreachable: ${(err as Error).message}`, {
        cause: err,
      })
    }
    if (!response.ok) throw await errorFromResponse(response)
    try {
      return await response.json()
    } catch (err) {
      throw new UnavailableError(`the executor API sent a malformed answer to ${method} ${path}`, {
        cause: err,
      })
    }
  }

  // Live changes: one connection (SSE, or a polling loop) while anyone listens.
  const listeners = new Set<(change: C.Change) => void>()
  const digestQuery = options.digestMs === undefined ? '' : `?digestMs=${Math.round(options.digestMs)}`
  const connectionListeners = new Set<(state: ConnectionState) => void>()
  let connection: ConnectionState = 'live'
  const setConnection = (state: ConnectionState) => {
    if (state === connection) return
    connection = state
    for (const l of connectionListeners) l(state)
  }
  let live: { stop: () => void; ready: Promise<void> } | undefined

  const dispatch = (change: C.Change) => {
    for (const l of listeners) {
      try {
        l(change)
      } catch {
        // One listener's failure must not starve the others.
      }
    }
  }
  // After missed changes (a reset or a reconnect gap), wake workers: they re-claim what is queued.
  const wakeAll = () => {
    for (const lane of LANE_LIST) dispatch({ type: 'queued', lane })
  }

  function startPolling(abort: AbortController): Promise<void> {
    const seen = new Map<string, string>()
    let first = true
    const poll = async () => {
      const runs = (await call('GET', '/runs', { query: { limit: 500 } })) as C.Run[]
      const queuedLanes = new Set<C.Lane>()
      for (const r of runs) {
        const key = `${r.status}|${r.progress}|${r.progressMessage}|${r.cancelRequestedAt}|${r.updatedAt}`
        if (r.status === 'queued') queuedLanes.add(r.lane)
        const before = seen.get(r.id)
        seen.set(r.id, key)
        if (first || before === key) continue
        dispatch({ type: 'run', id: r.id, sessionId: r.sessionId, status: r.status, lane: r.lane })
        if (r.status === 'running' && r.cancelRequestedAt && !before?.includes(r.cancelRequestedAt)) {
          dispatch({ type: 'cancel', runId: r.id, workerId: r.workerId })
        }
      }
      if (!first) for (const lane of queuedLanes) dispatch({ type: 'queued', lane })
      first = false
    }
    const loop = async () => {
      while (!abort.signal.aborted) {
        await sleep(pollIntervalMs, abort.signal)
        if (abort.signal.aborted) return
        await poll().catch(() => {})
      }
    }
    return poll().then(() => {
      void loop()
    })
  }

  function startLive(): { stop: () => void; ready: Promise<void> } {
    const abort = new AbortController()
    let lastEventId: string | null = null
    let resolveReady!: () => void
    let rejectReady!: (err: unknown) => void
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res
      rejectReady = rej
    })
    let isReady = false
    const markReady = () => {
      if (!isReady) {
        isReady = true
        resolveReady()
      }
    }

    const run = async () => {
      if (options.live === 'poll') {
        await startPolling(abort).then(markReady, rejectReady)
        return
      }
      let delay = 250
      while (!abort.signal.aborted) {
        let response: Response | undefined
        try {
          response = await doFetch(`${base}/changes${digestQuery}`, {
            headers: await headers({
              accept: 'text/event-stream',
              ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
            }),
            signal: abort.signal,
          })
        } catch (err) {
          if (abort.signal.aborted) return
          if (!isReady) {
            rejectReady(new UnavailableError(`cannot reach ${base}/changes`, { cause: err }))
            return
          }
        }
        if (response && !response.ok) {
          const error = await errorFromResponse(response)
          // No stream here (an Edge Function without LISTEN, an older server): poll instead.
          if ([404, 405, 501, 503].includes(response.status)) {
            await startPolling(abort).then(markReady, (err) => (isReady ? undefined : rejectReady(err)))
            return
          }
          if (!isReady) {
            rejectReady(error)
            return
          }
        }
        if (response?.ok && response.body) {
          const reconnecting = isReady
          markReady()
          setConnection('live')
          if (reconnecting && lastEventId === null) wakeAll()
          delay = 250
          try {
            for await (const event of readServerSentEvents(response.body)) {
              if (event.id !== undefined) lastEventId = event.id
              if (event.event === 'reset') wakeAll()
              else if (event.event === 'change') {
                try {
                  dispatch(JSON.parse(event.data) as C.Change)
                } catch {
                  // A malformed event is skipped, not fatal.
                }
              }
            }
          } catch {
            // The connection dropped: reconnect below.
          }
        }
        if (abort.signal.aborted) return
        if (isReady) setConnection('reconnecting')
        await sleep(delay, abort.signal)
        delay = Math.min(delay * 2, 10_000)
      }
    }
    void run()
    return { stop: () => abort.abort(), ready }
  }

  const operations = createRemoteOperations(call)

  return {
    kind: 'http',
    ...operations,

    async subscribe(wanted, options) {
      if (closed) throw new TypeError('this backend is closed')
      const listener = filterChanges(wanted, options)
      listeners.add(listener)
      if (!live) live = startLive()
      const current = live
      try {
        await current.ready
      } catch (err) {
        listeners.delete(listener)
        if (live === current && listeners.size === 0) {
          current.stop()
          live = undefined
        }
        throw isOpsError(err) ? err : new UnavailableError('live changes are unavailable', { cause: err })
      }
      let done = false
      const unsubscribe: Unsubscribe = async () => {
        if (done) return
        done = true
        listeners.delete(listener)
        if (listeners.size === 0 && live) {
          live.stop()
          live = undefined
        }
      }
      return unsubscribe
    },

    watchConnection(listener) {
      connectionListeners.add(listener)
      return () => {
        connectionListeners.delete(listener)
      }
    },

    async ping() {
      await call('GET', '/health')
    },

    async close() {
      closed = true
      listeners.clear()
      live?.stop()
      live = undefined
    },
  }
}
