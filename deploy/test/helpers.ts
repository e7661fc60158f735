import { createServer } from 'node:net'

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Polls `check` until it returns a truthy value (returned) or the time is up (throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as T
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** Debian's PostgreSQL 15 binaries, and whether pg_cron is installed for it. */
export const PG15_BIN = '/usr/lib/postgresql/15/bin'

/** A throwaway PostgreSQL 15 cluster with pg_cron preloaded (cron.database_name = postgres). */
export interface Pg15Cluster {
  port: number
  url(database: string): string
  stop(): void
}

/** Starts a PostgreSQL 15 cluster in a temporary directory (as the postgres user when root). */
export async function startPg15WithCron(): Promise<Pg15Cluster> {
  const { execFileSync } = await import('node:child_process')
  const { chownSync, mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const asPostgres = (args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', ...args])
      : execFileSync(args[0] as string, args.slice(1))
  const dir = mkdtempSync(join(tmpdir(), 'ops-pg15-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
    chownSync(dir, uid, gid)
  }
  const port = await freePort()
  asPostgres([`${PG15_BIN}/initdb`, '-D', `${dir}/data`, '-U', 'postgres', '--auth=trust'])
  asPostgres([
    `${PG15_BIN}/pg_ctl`,
    '-D',
    `${dir}/data`,
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on -c max_worker_processes=20`,
    '-l',
    `${dir}/log`,
    '-w',
    'start',
  ])
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop() {
      try {
        asPostgres([`${PG15_BIN}/pg_ctl`, '-D', `${dir}/data`, '-m', 'fast', 'stop'])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
