import { type Backend, filterChanges } from '../backend'
import { createChangeFanout } from '../changeFanout'
import type * as C from '../contract'
import { errorFromJSON, type OpsErrorJSON, UnavailableError } from '../errors'
import { createRemoteOperations, type ExecutorCall, toQueryString } from '../http/remoteOperations'

/**
 * The parts of a supabase-js client this backend uses (typed structurally, so core does not depend
 * on supabase-js): `functions.invoke` for commands, `channel` for Realtime.
 */
export interface SupabaseClientLike {
  functions: {
    invoke(
      name: string,
      options: { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> },
    ): Promise<{ data: unknown; error: unknown }>
  }
  channel(name: string): RealtimeChannelLike
  removeChannel(channel: RealtimeChannelLike): Promise<unknown>
}

interface RealtimeChannelLike {
  on(
    type: 'postgres_changes',
    filter: { event: '*'; schema: string; table: string },
    callback: (payload: {
      new: Record<string, unknown>
      old: Record<string, unknown>
      eventType: string
    }) => void,
  ): RealtimeChannelLike
  subscribe(callback?: (status: string, err?: Error) => void): RealtimeChannelLike
}

type RealtimeRunPayload = { new: Record<string, unknown>; old: Record<string, unknown>; eventType: string }

/**
 * Turns one Realtime postgres_changes message of ops.runs into changes. Heartbeats update every
 * running run every few seconds: an UPDATE that changed none of status, progress or the cancel
 * request yields nothing (the old row is there in full: the migration sets REPLICA IDENTITY FULL).
 */
export function changesFromRealtime(payload: RealtimeRunPayload): C.Change[] {
  const row = payload.new ?? {}
  const old = payload.old ?? {}
  if (!row.id || payload.eventType === 'DELETE') return []
  const changed =
    payload.eventType === 'INSERT' ||
    ['status', 'progress', 'progress_message', 'cancel_requested_at'].some((k) => row[k] !== old[k])
  if (!changed) return []
  const lane = row.lane as C.Lane
  const out: C.Change[] = [
    {
      type: 'run',
      id: String(row.id),
      sessionId: String(row.session_id),
      status: row.status as C.RunStatus,
      lane,
    },
  ]
  if (row.status === 'queued' && old.status !== 'queued') out.push({ type: 'queued', lane })
  if (row.status === 'running' && row.cancel_requested_at && !old.cancel_requested_at) {
    out.push({ type: 'cancel', runId: String(row.id), workerId: (row.worker_id as string | null) ?? null })
  }
  return out
}

export interface SupabaseBackendOptions {
  /** The Edge Function's name. Default 'ops-executor'. */
  functionName?: string
  /** How long to wait for the Realtime channel to join. Default 10 000 ms. */
  subscribeTimeoutMs?: number
}

async function toOpsError(error: unknown): Promise<Error> {
  // FunctionsHttpError carries the function's Response as `context`: read our error shape from it.
  const context = (error as { context?: unknown }).context
  if (context instanceof Response) {
    try {
      const body = (await context.clone().json()) as { error?: OpsErrorJSON }
      if (body?.error?.code) return errorFromJSON(body.error, error)
    } catch {
      // not our JSON: fall through
    }
    return new UnavailableError(`the Edge Function answered ${context.status}`, { cause: error })
  }
  return new UnavailableError(`the Edge Function is unreachable: ${(error as Error)?.message}`, {
    cause: error,
  })
}

/**
 * A backend for Supabase deployments, over a supabase-js client: commands go through the
 * `ops-executor` Edge Function (so RLS decides, with the client's session or key), and `subscribe`
 * uses Supabase Realtime postgres_changes on `ops.runs` (published by a migration). Realtime delivers
 * run changes, cancels and queue wake-ups; event-level changes are not published (poll
 * `events.list` to tail logs).
 *
 * @example
 * import { createClient } from '@supabase/supabase-js'
 * const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY)
 * const ops = createOpsClient({ backend: supabaseBackend(supabase) })
 */
export function supabaseBackend(client: SupabaseClientLike, options: SupabaseBackendOptions = {}): Backend {
  if (!client?.functions || typeof client.channel !== 'function') {
    throw new TypeError('supabaseBackend needs a supabase-js client (createClient(url, key))')
  }
  const fn = options.functionName ?? 'ops-executor'
  const call: ExecutorCall = async (method, path, { body, query } = {}) => {
    const { data, error } = await client.functions.invoke(`${fn}${path}${toQueryString(query)}`, {
      method,
      ...(body === undefined ? {} : { body }),
    })
    if (error) throw await toOpsError(error)
    return data
  }

  function join(dispatch: (change: C.Change) => void): Promise<RealtimeChannelLike> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new UnavailableError('Supabase Realtime did not confirm the subscription in time')),
        options.subscribeTimeoutMs ?? 10_000,
      )
      const ch = client
        .channel(`ops-runs-${crypto.randomUUID()}`)
        .on('postgres_changes', { event: '*', schema: 'ops', table: 'runs' }, (payload) => {
          for (const change of changesFromRealtime(payload)) dispatch(change)
        })
      ch.subscribe((status, err) => {
        if (status === 'SUBSCRIBED') {
          clearTimeout(timer)
          resolve(ch)
        } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
          clearTimeout(timer)
          reject(new UnavailableError(`Supabase Realtime: ${status}`, { cause: err }))
        }
      })
    })
  }

  const changes = createChangeFanout({
    open: join,
    close: async (ch: RealtimeChannelLike) => {
      await client.removeChannel(ch)
    },
  })

  return {
    kind: 'supabase',
    ...createRemoteOperations(call),

    subscribe: (listener, options) => changes.subscribe(filterChanges(listener, options)),

    async ping() {
      await call('GET', '/health')
    },

    async close() {
      await changes.closeAll()
    },
  }
}
