import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ArtifactStore, createOpsClient, type OpsClient } from '@ops-control-room/core'
import { EXECUTOR_ROLE, migrate, postgresBackend } from '@ops-control-room/core/postgres'
import { type AnyHandler, createWorker, type Worker } from '@ops-control-room/worker'
import { createServer, type OpsServer, type ServerOptions } from '../createServer'
import { type DevDatabase, startDevDatabase } from './devDatabase'
import { startDevGithub } from './devGithub'
import { devSpecKitHandler, ensureDevSpecRepo, seedSpecKitTemplate } from './devSpecKit'
import { seedDevTemplates } from './devTemplates'
import { loadOrCreateSecret, signDevToken } from './devToken'
import { exampleHandlers } from './exampleHandlers'
import { createProgress, type Progress } from './progress'
import { type RunboardServer, startRunboardServer } from './serveRunboard'

export interface DevControlRoomOptions {
  /** Port of the one URL (app + API). Default 8787; 0 picks a free one. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Project folder for PostgreSQL data, artifacts and the dev JWT secret. Default ./.ops-data */
  dataDir?: string
  /** A throwaway database and artifact folder, removed on stop. */
  ephemeral?: boolean
  /** Use this PostgreSQL instead of the embedded one (env DATABASE_URL). */
  databaseUrl?: string
  /** The built Runboard app. Default: examples/runboard/dist of this repository, if built. */
  appDir?: string
  /** Start the in-process worker with the example handlers. Default true. */
  worker?: boolean
  /** Per-lane concurrency of the in-process worker. Default 2. */
  concurrency?: number
  /**
   * The repository `spec_kit_generate` commits to. Default a bare repository in the data directory
   * (`<dataDir>/spec-kit/specs.git`, env OPS_SPEC_KIT_REPO overrides); false leaves the handler out.
   */
  specKitRepo?: string | false
  /** Port of the embedded PostgreSQL (on 127.0.0.1). Default: a free one. */
  pgPort?: number
  /** Where progress lines go. Default stdout; pass a no-op Progress to silence. */
  progress?: Progress
  /** Accept only tokens with this `iss` (the dev tokens carry it). */
  jwtIssuer?: string
  /** Accept only tokens with this `aud` (the dev tokens carry it). */
  jwtAudience?: string
  /** The server's request limits (createServer's `rateLimit`); on by default. */
  rateLimit?: ServerOptions['rateLimit']
  /**
   * The login role the API is served through: default `ops_executor`, with a fresh random password
   * each start. When the role cannot be created (an external database whose user lacks CREATEROLE),
   * the API is served as the database's own user, with a warning.
   */
  executorRole?: { name?: string; password?: string }
}

/** A running dev control room. */
export interface DevControlRoom {
  /** Open this in a browser: the Runboard, and the executor API on the same origin. */
  readonly url: string
  /** A service_role token for the API (what the browser app gets). */
  readonly token: string
  /** The database, as its own user (migrations, the worker). */
  readonly databaseUrl: string
  /** The login role the API's connections use: `ops_executor`, or the database's own user as a fallback. */
  readonly apiRole: string
  readonly server: OpsServer
  readonly worker: Worker | undefined
  /** A client over the database, for scripts and tests. */
  readonly client: OpsClient
  /** Stops the worker (gracefully), the server, and the embedded PostgreSQL. */
  close(): Promise<void>
}

/** The user a database URL logs in as (as far as the URL says). */
function urlUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'the default user'
  } catch {
    return 'the URL’s user'
  }
}

/** Where the Runboard app is built to, looked up from the source and the dist layout. */
export function defaultAppDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [
    resolve(here, '../../../../examples/runboard/dist'), // packages/server/src/dev
    resolve(here, '../../../examples/runboard/dist'), // packages/server/dist
    resolve(process.cwd(), 'examples/runboard/dist'),
  ]
  return candidates.find((c) => existsSync(join(c, 'index.html')))
}

/**
 * Starts the whole control room on one machine: an embedded PostgreSQL (or DATABASE_URL), the
 * migrations, the server, an in-process worker with the example handlers (`shell`, `sleep`,
 * `demo`), the dev templates, and the Runboard app on the same origin as the API.
 *
 * Dev-mode auth: the browser app is handed a service_role token at `/ops-config.json`. That is
 * for a local machine only; never expose a dev control room to a network.
 *
 * @example
 * const room = await startDevControlRoom({ port: 0, ephemeral: true })
 * console.log(room.url)
 * await room.close()
 */
export async function startDevControlRoom(options: DevControlRoomOptions = {}): Promise<DevControlRoom> {
  const progress = options.progress ?? createProgress()
  const host = options.host ?? '127.0.0.1'
  const dataDir = resolve(options.dataDir ?? '.ops-data')
  const cleanup: (() => Promise<void>)[] = []
  let closing = false
  const closeAll = async () => {
    closing = true
    for (const fn of cleanup.splice(0).reverse()) {
      try {
        await fn()
      } catch (err) {
        progress.fail(`while stopping: ${(err as Error).message}`)
      }
    }
  }

  try {
    const db: DevDatabase = await startDevDatabase({
      databaseUrl: options.databaseUrl,
      dataDir,
      ephemeral: options.ephemeral,
      port: options.pgPort,
      progress,
    })
    cleanup.push(() => db.stop())

    const doneMigrate = progress.step('applying migrations')
    const migrated = await migrate({
      databaseUrl: db.url,
      onApply: (m) => progress.info(`applied ${m.version} ${m.name}`),
    })
    doneMigrate(
      migrated.applied.length
        ? `${migrated.applied.length} applied`
        : `up to date (${migrated.skipped} already applied)`,
    )

    // The API runs through ops_executor, which can only become anon, authenticated and
    // service_role: a request can never act as the superuser the embedded cluster was made with.
    const executorRole = {
      name: options.executorRole?.name ?? EXECUTOR_ROLE,
      password: options.executorRole?.password ?? randomBytes(24).toString('base64url'),
    }
    let apiRole: ServerOptions['executorRole']
    try {
      await migrate({ databaseUrl: db.url, executorRole })
      apiRole = executorRole
    } catch (err) {
      progress.fail(
        `serving the API as the database's own user: could not set up the ${executorRole.name} role (${(err as Error).message})`,
      )
    }

    const appDir = options.appDir ?? defaultAppDir()
    const front: RunboardServer = await startRunboardServer({ port: options.port ?? 8787, host, appDir })
    cleanup.push(() => front.close())

    const doneServer = progress.step('starting the server')
    const jwtSecret =
      process.env.OPS_JWT_SECRET ??
      (await loadOrCreateSecret(options.ephemeral ? undefined : join(dataDir, 'dev-jwt-secret')))
    // Ephemeral artifacts live beside the throwaway cluster (removed with it), or, on an external
    // database, in a temporary folder of their own that is removed on close.
    let artifactsDir = join(dataDir, 'artifacts')
    if (options.ephemeral && db.dataDir) artifactsDir = join(dirname(db.dataDir), 'artifacts')
    else if (options.ephemeral) {
      const tmp = await mkdtemp(join(tmpdir(), 'ops-dev-artifacts-'))
      cleanup.push(() => rm(tmp, { recursive: true, force: true }))
      artifactsDir = tmp
    }
    const github = await startDevGithub({ databaseUrl: db.url, runboardUrl: front.url })
    if (github) cleanup.push(() => github.close())
    const server = await createServer({
      ...(github ? { handlers: [github.route] } : {}),
      databaseUrl: db.url,
      executorRole: apiRole,
      jwtSecret,
      jwtIssuer: options.jwtIssuer,
      jwtAudience: options.jwtAudience,
      rateLimit: options.rateLimit,
      artifactsDir,
      port: 0,
      host: '127.0.0.1',
      publicUrl: front.url,
      onError: (err, context) => progress.fail(`${context}: ${(err as Error)?.message ?? err}`),
    })
    cleanup.push(() => server.close())
    front.setApi((req, res) => server.http.emit('request', req, res))
    const token = signDevToken(jwtSecret, {
      role: 'service_role',
      sub: 'ops-dev',
      expiresInSeconds: 30 * 24 * 3600,
      issuer: options.jwtIssuer,
      audience: options.jwtAudience,
    })
    front.setConfig({ apiUrl: front.url, token, mode: 'dev' })
    doneServer(`executor API and live stream on ${front.url}`)

    const client = createOpsClient({
      backend: postgresBackend({ databaseUrl: db.url, applicationName: 'ops-control-room dev' }),
    })
    cleanup.push(() => client.close())
    const seeded = await seedDevTemplates(client)
    if (seeded.length) progress.info(`created templates: ${seeded.join(', ')}`)

    let worker: Worker | undefined
    if (options.worker !== false) {
      const handlers = [...exampleHandlers] as AnyHandler[]
      const specRepo = options.specKitRepo ?? process.env.OPS_SPEC_KIT_REPO
      if (specRepo !== false) {
        try {
          const repo = specRepo || (await ensureDevSpecRepo(join(dirname(artifactsDir), 'spec-kit')))
          handlers.push(devSpecKitHandler(repo, github?.openPullRequest))
          if (await seedSpecKitTemplate(client)) progress.info('created template: spec-kit')
          progress.info(`spec_kit_generate commits to ${repo}`)
        } catch (err) {
          progress.fail(`spec_kit_generate is off (is git installed?): ${(err as Error).message}`)
        }
      }
      const doneWorker = progress.step('starting the in-process worker')
      worker = createWorker({
        client,
        workerId: `dev-${process.pid}`,
        handlers: [...handlers, ...(github?.workerHandlers ?? [])],
        concurrency: options.concurrency ?? 2,
        // The server's filesystem store: the worker writes content, the server signs downloads.
        artifactStore: server.artifactStore as unknown as ArtifactStore,
        heartbeatIntervalMs: 2000,
        shutdownTimeoutMs: 5000,
        version: 'dev',
      })
      // While stopping, PostgreSQL may already be gone (Ctrl-C reaches it too): nothing to report.
      worker.on('error', (err) => closing || progress.fail(`worker: ${err.message}`))
      await worker.start()
      const w = worker
      cleanup.push(() => w.stop())
      doneWorker(`${handlers.map((h) => h.kind).join(', ')} on lanes A–D`)
    }

    if (github) {
      await github.start()
      progress.info(`GitHub App: webhooks at ${front.url}${github.route.path}, check runs reported`)
    }

    if (!appDir) {
      progress.fail(
        'the Runboard app is not built (examples/runboard/dist): `pnpm start` at the root builds it',
      )
    }
    return {
      url: front.url,
      token,
      databaseUrl: db.url,
      apiRole: apiRole ? executorRole.name : urlUser(db.url),
      server,
      worker,
      client,
      close: closeAll,
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}
