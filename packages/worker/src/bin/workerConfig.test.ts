import { describe, expect, it } from 'vitest'
import { parseWorkerConfig, type WorkerConfig, WorkerConfigError } from './workerConfig'

const config = (env: Record<string, string>, argv: string[] = []): WorkerConfig => {
  const parsed = parseWorkerConfig(argv, env)
  if (!('config' in parsed)) throw new Error('expected a configuration')
  return parsed.config
}
const error = (env: Record<string, string>, argv: string[] = []): string => {
  try {
    parseWorkerConfig(argv, env)
  } catch (err) {
    expect(err).toBeInstanceOf(WorkerConfigError)
    return (err as Error).message
  }
  throw new Error('expected a WorkerConfigError')
}
const db = { DATABASE_URL: 'postgres://u:p@db.example.com:5432/postgres' }

describe('parseWorkerConfig', () => {
  it('answers --help and --version before reading the environment', () => {
    expect(parseWorkerConfig(['--help'], {})).toEqual({ help: true })
    expect(parseWorkerConfig(['-h'], {})).toEqual({ help: true })
    expect(parseWorkerConfig(['--version'], {})).toEqual({ version: true })
  })

  it('refuses unknown flags and positionals', () => {
    expect(error(db, ['--concurrency=4'])).toMatch(/Unknown option '--concurrency'.*environment variables/)
    expect(error(db, ['start'])).toMatch(/start/)
  })

  it('needs exactly one connection', () => {
    expect(error({})).toMatch(/SUPABASE_URL and SUPABASE_KEY.*DATABASE_URL/)
    expect(error({ ...db, SUPABASE_URL: 'https://x.supabase.co', SUPABASE_KEY: 'k' })).toMatch(
      /only one of SUPABASE_URL and DATABASE_URL/,
    )
    expect(error({ SUPABASE_URL: 'https://x.supabase.co' })).toMatch(/SUPABASE_URL needs SUPABASE_KEY/)
    expect(error({ DATABASE_URL: 'mysql://x' })).toMatch(/postgres:\/\//)
    expect(error({ DATABASE_URL: 'not a url' })).toMatch(/not a URL/)
  })

  it('reaches Supabase through the ops-executor Edge Function', () => {
    expect(config({ SUPABASE_URL: 'https://abc.supabase.co/', SUPABASE_KEY: 'service' }).connection).toEqual({
      mode: 'http',
      url: 'https://abc.supabase.co/functions/v1/ops-executor',
      key: 'service',
    })
    expect(config({ OPS_EXECUTOR_URL: 'http://127.0.0.1:8787', OPS_TOKEN: 't' }).connection).toEqual({
      mode: 'http',
      url: 'http://127.0.0.1:8787',
      key: 't',
    })
  })

  it('turns prepared statements off behind a transaction pooler, and lets the operator choose', () => {
    expect(config(db).connection).toMatchObject({ mode: 'direct', prepare: true, pooled: false, pool: 10 })
    const pooler = { DATABASE_URL: 'postgres://u:p@aws-0-eu.pooler.supabase.com:6543/postgres' }
    expect(config(pooler).connection).toMatchObject({ prepare: false, pooled: true })
    expect(config({ ...pooler, OPS_DB_PREPARE: 'true' }).connection).toMatchObject({
      prepare: true,
      pooled: true,
    })
    expect(config({ ...db, OPS_DB_PREPARE: 'false' }).connection).toMatchObject({
      prepare: false,
      pooled: true,
    })
    expect(
      config({ ...pooler, OPS_DB_SESSION_URL: 'postgres://u:p@h:5432/postgres' }).connection,
    ).toMatchObject({
      sessionUrl: 'postgres://u:p@h:5432/postgres',
    })
    expect(error({ ...db, OPS_DB_PREPARE: 'maybe' })).toMatch(/OPS_DB_PREPARE must be true or false/)
  })

  it('keeps WORKER_ID unique per process unless told not to', () => {
    const a = config({ ...db, WORKER_ID: 'worker' }).workerId
    const b = config({ ...db, WORKER_ID: 'worker' }).workerId
    expect(a).toMatch(/^worker-[0-9a-f]{8}$/)
    expect(a).not.toBe(b)
    expect(config({ ...db, WORKER_ID: 'pod-7', OPS_WORKER_ID_SUFFIX: 'false' }).workerId).toBe('pod-7')
  })

  it('reads lanes, concurrency and numbers, and names the variable it cannot use', () => {
    const c = config({ ...db, OPS_LANES: 'a, b', OPS_CONCURRENCY: 'A=4,b=2', OPS_SWEEP_INTERVAL_MS: '0' })
    expect(c).toMatchObject({ lanes: ['A', 'B'], concurrency: { A: 4, B: 2 }, sweepIntervalMs: 0 })
    expect(config({ ...db, OPS_CONCURRENCY: '8' }).concurrency).toBe(8)
    expect(config({ ...db, OPS_PREFETCH: '0' }).prefetch).toBe(0)
    expect(config({ ...db, OPS_PREFETCH: '16' }).prefetch).toBe(16)
    expect(error({ ...db, OPS_PREFETCH: 'lots' })).toMatch(/OPS_PREFETCH/)
    expect(error({ ...db, OPS_PREFETCH: '20000' })).toMatch(/OPS_PREFETCH must be at most/)
    expect(error({ ...db, OPS_LANES: 'A,E' })).toMatch(/OPS_LANES: E/)
    expect(error({ ...db, OPS_CONCURRENCY: 'A:4' })).toMatch(/OPS_CONCURRENCY/)
    expect(error({ ...db, OPS_HEARTBEAT_INTERVAL_MS: '-1' })).toMatch(/OPS_HEARTBEAT_INTERVAL_MS must be/)
    expect(error({ ...db, OPS_HEALTH_PORT: '70000' })).toMatch(/OPS_HEALTH_PORT/)
    expect(error({ ...db, OPS_DB_POOL: '0' })).toMatch(/OPS_DB_POOL/)
  })
})
