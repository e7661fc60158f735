import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { LANES, type Lane } from '@ops-control-room/core'
import type { Concurrency } from '../types'

/** How `ops-worker` reaches Ops Control Room. */
export type WorkerConnection =
  | {
      mode: 'direct'
      databaseUrl: string
      /** Connections in the pool. */
      pool: number
      /** Prepared statements; off behind a transaction pooler. */
      prepare: boolean
      /**
       * A session-mode connection for LISTEN and the sweeper's advisory lock. Unset behind a
       * transaction pooler: the worker then polls, and every worker sweeps (recovery is idempotent).
       */
      sessionUrl: string | undefined
      /** Behind a transaction pooler: port 6543 (Supabase's, PgBouncer's usual) or OPS_DB_PREPARE=false. */
      pooled: boolean
    }
  | {
      mode: 'http'
      /** The executor API's base URL, e.g. `https://<ref>.supabase.co/functions/v1/ops-executor`. */
      url: string
      /** A service-role key or JWT. */
      key: string
    }

/** Everything `ops-worker` reads from its environment, checked. */
export interface WorkerConfig {
  connection: WorkerConnection
  workerId: string
  lanes: Lane[]
  concurrency: Concurrency | undefined
  /** Claim-ahead size per lane; 0 turns it off (`WorkerOptions.prefetch`). */
  prefetch: number | undefined
  /** `shell` and/or module paths. */
  handlers: string[]
  healthPort: number | undefined
  artifactsDir: string | undefined
  heartbeatIntervalMs: number | undefined
  heartbeatTimeoutSeconds: number | undefined
  /** 0 turns the worker's own sweeper off (pg_cron or another scheduler recovers stuck runs). */
  sweepIntervalMs: number | undefined
  pollIntervalMs: number | undefined
  shutdownTimeoutMs: number | undefined
  abortGraceMs: number | undefined
}

/** A variable or flag `ops-worker` cannot work with; the message names it and says what to write. */
export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError'
  readonly code = 'invalid_worker_config'
}

/** What `ops-worker --help` prints. */
export const WORKER_HELP = `Usage: ops-worker [--help] [--version]

Runs Ops Control Room handlers. Configured by environment variables:

Connection (one of):
  SUPABASE_URL, SUPABASE_KEY   Supabase project URL and a service-role key: talk to the ops-executor
                               Edge Function over HTTPS (artifacts go to Supabase Storage).
  OPS_EXECUTOR_URL, OPS_TOKEN  Any executor API (ops-control-room serve) and a service-role JWT.
  DATABASE_URL                 PostgreSQL URL: connect directly.

Direct mode:
  OPS_DB_POOL                  connections in the pool (default 10)
  OPS_DB_PREPARE               true|false: prepared statements (default: false on port 6543, the
                               transaction pooler's, else true). false also means "behind a
                               transaction pooler": no LISTEN or session locks on DATABASE_URL
  OPS_DB_SESSION_URL           session-mode URL for LISTEN and the sweeper's lock when DATABASE_URL
                               is a transaction pooler (without it the worker polls)

Worker:
  WORKER_ID                    name prefix; a random suffix keeps it unique per process
                               (default <host>-<pid>)
  OPS_WORKER_ID_SUFFIX         false: use WORKER_ID as it is (it must then be unique, e.g. a pod name)
  OPS_LANES                    lanes to serve, e.g. A,B (default A,B,C,D)
  OPS_CONCURRENCY              per-lane concurrency: 4, or A=4,B=2 (default 4)
  OPS_PREFETCH                 runs per lane claimed ahead of free slots while handlers are short;
                               0 turns it off (default 8 × concurrency)
  OPS_HANDLERS                 shell, module paths and package names (pkg#export) exporting handlers or
                               handler factories (required: none is registered by default)
  OPS_SHELL_ENV                more variable names the shell handler's commands inherit (default only
                               PATH, HOME, locale, TZ, TMPDIR, TERM)
  OPS_HANDLER_OPTIONS          JSON object: options per OPS_HANDLERS entry, given to its factory
  OPS_WORKSPACE_DIR            parent of per-run workspaces (default <tmpdir>/ops-workspaces)
  OPS_KEEP_WORKSPACES          1 keeps each run's workspace after it ends (debugging)
  OPS_SECRET_<NAME>            a secret handlers read as ctx.secrets.get('<NAME>') or { "$secret": "<NAME>" }
  OPS_HEALTH_PORT              serve /health/live (/livez), /health/ready (/readyz), /health and /metrics
                               on this port (default: off)
  OPS_ARTIFACTS_DIR            keep artifact files here (direct mode; default: in PostgreSQL)
  OPS_HEARTBEAT_INTERVAL_MS    default 5000
  OPS_HEARTBEAT_TIMEOUT_S      a run whose worker is silent this long is recovered (default 30)
  OPS_SWEEP_INTERVAL_MS        stuck-run sweep; 0 turns it off (default 4000)
  OPS_POLL_INTERVAL_MS         default 2000
  OPS_SHUTDOWN_TIMEOUT_MS      graceful stop budget (default 30000)
  OPS_ABORT_GRACE_MS           after it, aborted runs get this long (default 5000)

SIGTERM/SIGINT stop gracefully; a second signal aborts in-flight runs at once.
Exit codes: 0 stopped, 1 unexpected error, 2 bad configuration, 3 database not migrated,
4 credentials refused, 5 unreachable at start.
`

type Env = Record<string, string | undefined>

/**
 * Reads `ops-worker`'s flags and environment. Returns `{ help: true }` / `{ version: true }` for
 * those flags, else the checked configuration; throws WorkerConfigError on anything it cannot use.
 *
 * @example
 * const parsed = parseWorkerConfig(process.argv.slice(2), process.env)
 */
export function parseWorkerConfig(
  argv: readonly string[],
  env: Env,
): { help: true } | { version: true } | { config: WorkerConfig } {
  let values: { help?: boolean; version?: boolean }
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    throw new WorkerConfigError(
      `${err instanceof Error ? err.message : String(err)}; ops-worker is configured by environment variables (see --help)`,
    )
  }
  if (values.help) return { help: true }
  if (values.version) return { version: true }

  const int = (name: string): number | undefined => {
    const v = env[name]
    if (v === undefined || v.trim() === '') return undefined
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 0)
      throw new WorkerConfigError(`${name} must be a non-negative integer (got ${v})`)
    return n
  }
  const bool = (name: string): boolean | undefined => {
    const v = env[name]?.trim().toLowerCase()
    if (v === undefined || v === '') return undefined
    if (['1', 'true', 'yes', 'on'].includes(v)) return true
    if (['0', 'false', 'no', 'off'].includes(v)) return false
    throw new WorkerConfigError(`${name} must be true or false (got ${env[name]})`)
  }

  const healthPort = int('OPS_HEALTH_PORT')
  if (healthPort !== undefined && healthPort > 65535)
    throw new WorkerConfigError(`OPS_HEALTH_PORT must be a port (got ${healthPort})`)
  const prefetch = int('OPS_PREFETCH')
  if (prefetch !== undefined && prefetch > 10_000)
    throw new WorkerConfigError(`OPS_PREFETCH must be at most 10000 runs per lane (got ${prefetch})`)
  const prefix = env.WORKER_ID?.trim() || `${hostname()}-${process.pid}`
  const suffix = bool('OPS_WORKER_ID_SUFFIX') ?? true
  return {
    config: {
      connection: parseConnection(env, int, bool),
      workerId: suffix ? `${prefix}-${randomBytes(4).toString('hex')}` : prefix,
      lanes: parseLanes(env.OPS_LANES),
      concurrency: parseConcurrency(env.OPS_CONCURRENCY),
      prefetch,
      handlers: (env.OPS_HANDLERS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      healthPort,
      artifactsDir: env.OPS_ARTIFACTS_DIR || undefined,
      heartbeatIntervalMs: int('OPS_HEARTBEAT_INTERVAL_MS'),
      heartbeatTimeoutSeconds: int('OPS_HEARTBEAT_TIMEOUT_S'),
      sweepIntervalMs: int('OPS_SWEEP_INTERVAL_MS'),
      pollIntervalMs: int('OPS_POLL_INTERVAL_MS'),
      shutdownTimeoutMs: int('OPS_SHUTDOWN_TIMEOUT_MS'),
      abortGraceMs: int('OPS_ABORT_GRACE_MS'),
    },
  }
}

function parseConnection(
  env: Env,
  int: (name: string) => number | undefined,
  bool: (name: string) => boolean | undefined,
): WorkerConnection {
  const supabaseUrl = env.SUPABASE_URL?.trim()
  const executorUrl = env.OPS_EXECUTOR_URL?.trim()
  const databaseUrl = env.DATABASE_URL?.trim()
  const chosen = [
    supabaseUrl && 'SUPABASE_URL',
    executorUrl && 'OPS_EXECUTOR_URL',
    databaseUrl && 'DATABASE_URL',
  ].filter(Boolean)
  if (chosen.length === 0) {
    throw new WorkerConfigError(
      'set SUPABASE_URL and SUPABASE_KEY (Supabase), OPS_EXECUTOR_URL and OPS_TOKEN (a server), or DATABASE_URL (direct); see --help',
    )
  }
  if (chosen.length > 1) throw new WorkerConfigError(`set only one of ${chosen.join(' and ')}`)

  if (supabaseUrl || executorUrl) {
    const [urlVar, keyVar] = supabaseUrl
      ? ['SUPABASE_URL', 'SUPABASE_KEY']
      : ['OPS_EXECUTOR_URL', 'OPS_TOKEN']
    const key = env[keyVar]?.trim()
    if (!key) throw new WorkerConfigError(`${urlVar} needs ${keyVar} (a service-role key)`)
    let url: URL
    try {
      url = new URL((supabaseUrl ?? executorUrl) as string)
    } catch {
      throw new WorkerConfigError(`${urlVar} is not a URL (got ${supabaseUrl ?? executorUrl})`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new WorkerConfigError(`${urlVar} must be http(s)`)
    const base = url.href.replace(/\/+$/, '')
    return { mode: 'http', url: supabaseUrl ? `${base}/functions/v1/ops-executor` : base, key }
  }

  let parsed: URL
  try {
    parsed = new URL(databaseUrl as string)
  } catch {
    throw new WorkerConfigError('DATABASE_URL is not a URL (postgres://user:password@host:port/database)')
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new WorkerConfigError(`DATABASE_URL must start with postgres:// (got ${parsed.protocol}//)`)
  }
  // Either way of saying "transaction pooler": its port, or prepared statements turned off.
  const prepareSetting = bool('OPS_DB_PREPARE')
  const pooled = parsed.port === '6543' || prepareSetting === false
  const pool = int('OPS_DB_POOL') ?? 10
  if (pool < 1) throw new WorkerConfigError('OPS_DB_POOL must be at least 1')
  return {
    mode: 'direct',
    databaseUrl: databaseUrl as string,
    pool,
    prepare: prepareSetting ?? !pooled,
    sessionUrl: env.OPS_DB_SESSION_URL?.trim() || undefined,
    pooled,
  }
}

function parseLanes(text: string | undefined): Lane[] {
  if (!text?.trim()) return [...LANES]
  const lanes = text.split(',').map((s) => s.trim().toUpperCase())
  for (const l of lanes)
    if (!LANES.includes(l as Lane))
      throw new WorkerConfigError(`OPS_LANES: ${l} is not one of ${LANES.join(', ')}`)
  return [...new Set(lanes)] as Lane[]
}

function parseConcurrency(text: string | undefined): Concurrency | undefined {
  if (!text?.trim()) return undefined
  if (/^\s*\d+\s*$/.test(text)) return Number(text)
  const out: Partial<Record<Lane, number>> = {}
  for (const part of text.split(',')) {
    const m = /^\s*([A-D])\s*=\s*(\d+)\s*$/i.exec(part)
    if (!m) throw new WorkerConfigError(`OPS_CONCURRENCY: write a number or A=4,B=2 (got ${text})`)
    out[(m[1] as string).toUpperCase() as Lane] = Number(m[2])
  }
  return out
}
