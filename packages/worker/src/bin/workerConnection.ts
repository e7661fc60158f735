import {
  type ArtifactStore,
  type Backend,
  createOpsClient,
  httpArtifactStore,
  httpBackend,
  isOpsError,
  type OpsClient,
} from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import postgres from 'postgres'
import { filesystemArtifactStore } from '../stores/filesystemArtifactStore'
import { postgresArtifactStore } from '../stores/postgresArtifactStore'
import type { WorkerConnection } from './workerConfig'

/** Why `ops-worker` could not start, as a one-line message and the exit code the platform sees. */
export class WorkerStartupError extends Error {
  override readonly name = 'WorkerStartupError'
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export const EXIT = { unexpected: 1, config: 2, notMigrated: 3, refused: 4, unreachable: 5 } as const

const NOT_MIGRATED =
  'the database has no `ops` schema: run the migrations first (`supabase db push`, or `ops-control-room serve --migrate`)'

/** The client and artifact store an `ops-worker` process uses, and how to close both. */
export interface WorkerConnectionHandle {
  client: OpsClient
  artifactStore: ArtifactStore
  close(): Promise<void>
}

/**
 * Opens the client and artifact store for a connection. Behind a transaction pooler, LISTEN and the
 * sweeper's advisory lock would land on whichever server connection the pooler picks, so they go to
 * `sessionUrl` when there is one and are left out otherwise (the worker polls; every worker sweeps,
 * which `recover_stuck_runs` tolerates).
 */
export function openWorkerConnection(
  connection: WorkerConnection,
  options: { artifactsDir?: string } = {},
): WorkerConnectionHandle {
  if (connection.mode === 'http') {
    // Supabase's gateway wants the key as `apikey` as well as the bearer token.
    const headers = { apikey: connection.key }
    const client = createOpsClient({
      backend: httpBackend({ url: connection.url, token: connection.key, headers }),
    })
    return {
      client,
      artifactStore: httpArtifactStore({ url: connection.url, token: connection.key, headers }),
      close: () => client.close(),
    }
  }
  const main = postgresBackend({
    databaseUrl: connection.databaseUrl,
    max: connection.pool,
    prepare: connection.prepare,
    applicationName: 'ops-worker',
  })
  let backend: Backend = main
  let session: Backend | undefined
  if (connection.sessionUrl) {
    session = postgresBackend({
      databaseUrl: connection.sessionUrl,
      max: 2,
      applicationName: 'ops-worker-session',
    })
    const s = session
    // Hand-off needs LISTEN too: the wait and the handed runs go through the session connection.
    backend = {
      ...main,
      subscribe: s.subscribe,
      tryWithLock: s.tryWithLock,
      waitForRuns: s.waitForRuns,
      onHandoff: s.onHandoff,
      close: () => main.close(),
    }
  } else if (connection.pooled) {
    backend = {
      ...main,
      tryWithLock: undefined,
      subscribe: async () => {
        throw new Error(
          'LISTEN is not available through a transaction pooler: polling (set OPS_DB_SESSION_URL)',
        )
      },
    }
  }
  const client = createOpsClient({ backend })
  // The store's own pool, opened here so that it honours `prepare` too.
  const storeSql = options.artifactsDir
    ? undefined
    : postgres(connection.databaseUrl, {
        max: 4,
        prepare: connection.prepare,
        onnotice: () => {},
        connection: { application_name: 'ops-worker artifacts' },
      })
  const store = storeSql
    ? postgresArtifactStore({ sql: storeSql })
    : filesystemArtifactStore({ root: options.artifactsDir as string })
  return {
    client,
    artifactStore: store,
    async close() {
      await storeSql?.end({ timeout: 5 })
      await client.close()
      await session?.close()
    },
  }
}

/**
 * Checks, before the worker starts, that the database answers, accepts the credentials and has been
 * migrated; throws WorkerStartupError with a one-line reason otherwise.
 */
export async function checkDatabase(
  connection: Extract<WorkerConnection, { mode: 'direct' }>,
): Promise<void> {
  const sql = postgres(connection.databaseUrl, {
    max: 1,
    prepare: connection.prepare,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: 'ops-worker' },
  })
  try {
    const [row] = await sql`select to_regclass('ops.runs') is not null as migrated`
    if (!row?.migrated) throw new WorkerStartupError(NOT_MIGRATED, EXIT.notMigrated)
  } catch (err) {
    throw describeStartupError(err)
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

/** Turns what `worker.start()` (or the database check) threw into a one-line WorkerStartupError. */
export function describeStartupError(err: unknown): WorkerStartupError {
  if (err instanceof WorkerStartupError) return err
  const chain: { code?: unknown; message?: unknown }[] = []
  for (
    let e: unknown = err;
    e && typeof e === 'object' && chain.length < 5;
    e = (e as { cause?: unknown }).cause
  ) {
    chain.push(e as { code?: unknown; message?: unknown })
  }
  const codes = chain.map((e) => String(e.code ?? ''))
  const text = chain.map((e) => String(e.message ?? '')).join(' | ')
  if (
    codes.some((c) => c === '3F000' || c === '42P01' || c === '42883') ||
    /schema "ops" does not exist|relation "ops\.\w+" does not exist|function ops\.\w+\(.*\) does not exist/.test(
      text,
    )
  ) {
    return new WorkerStartupError(NOT_MIGRATED, EXIT.notMigrated, { cause: err })
  }
  // A gateway's own 401/403 (Supabase's "Invalid JWT") carries no error body the client can type.
  if (
    codes.some((c) => c === '28P01' || c === '28000' || c === 'unauthorized' || c === 'forbidden') ||
    /the executor answered 40[13]\b/.test(text)
  ) {
    return new WorkerStartupError(
      `the credentials were refused: check the password or key (${firstLine(text)})`,
      EXIT.refused,
      { cause: err },
    )
  }
  if (
    codes.some(
      (c) =>
        /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|CONNECT_TIMEOUT|EAI_AGAIN|unavailable)$/.test(c) ||
        c.startsWith('08'),
    )
  ) {
    return new WorkerStartupError(`cannot reach the database or API: ${firstLine(text)}`, EXIT.unreachable, {
      cause: err,
    })
  }
  const code = isOpsError(err) ? ` [${err.code}]` : ''
  return new WorkerStartupError(
    `could not start${code}: ${firstLine(text) || String(err)}`,
    EXIT.unexpected,
    {
      cause: err,
    },
  )
}

const firstLine = (text: string) => (text.split('\n')[0] ?? '').slice(0, 300)
