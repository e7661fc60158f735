import { createHash, randomUUID } from 'node:crypto'
import {
  type ArtifactPutInput,
  type ArtifactStore,
  NotFoundError,
  type StoredArtifact,
  toByteStream,
} from '@ops-control-room/core'
import { toOpsError } from '@ops-control-room/core/postgres'
import postgres from 'postgres'

export interface PostgresArtifactStoreOptions {
  /** A PostgreSQL URL (the store opens a small pool of its own), or… */
  databaseUrl?: string
  /** …an existing postgres.js client (not closed by `close()`). */
  sql?: postgres.Sql
  /** Bytes per stored chunk. Default 1 MiB. */
  chunkSize?: number
}

/** An artifact store in PostgreSQL; `close()` ends its own pool. */
export interface PostgresArtifactStore extends ArtifactStore {
  close(): Promise<void>
}

/**
 * Keeps artifact content in `ops.artifact_content`, chunked, streamed both ways: memory stays at
 * about one chunk whatever the file size. Needs the `create_artifact_content` migration.
 *
 * @example
 * const store = postgresArtifactStore({ databaseUrl: process.env.DATABASE_URL! })
 * const worker = createWorker({ client, artifactStore: store, handlers: [build] })
 */
export function postgresArtifactStore(options: PostgresArtifactStoreOptions): PostgresArtifactStore {
  if (!options.sql && !options.databaseUrl)
    throw new TypeError('postgresArtifactStore needs { databaseUrl } or { sql }')
  const owned = !options.sql
  const sql =
    options.sql ??
    postgres(options.databaseUrl as string, {
      max: 4,
      onnotice: () => {},
      connection: { application_name: 'ops-control-room artifacts' },
    })
  const chunkSize = options.chunkSize ?? 1024 * 1024

  return {
    kind: 'postgres',

    async put(input: ArtifactPutInput): Promise<StoredArtifact> {
      const path = `${input.runId}/${randomUUID()}/${input.name}`
      const hash = createHash('sha256')
      let size = 0
      let chunk = 0
      let buffer = Buffer.allocUnsafe(chunkSize)
      let filled = 0
      const writeChunk = async (data: Buffer) => {
        await sql`insert into ops.artifact_content (path, chunk, data) values (${path}, ${chunk}, ${data})`
        chunk++
      }
      const reader = toByteStream(input.body).getReader()
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          hash.update(value)
          size += value.byteLength
          let offset = 0
          while (offset < value.byteLength) {
            const n = Math.min(chunkSize - filled, value.byteLength - offset)
            buffer.set(value.subarray(offset, offset + n), filled)
            filled += n
            offset += n
            if (filled === chunkSize) {
              await writeChunk(buffer)
              buffer = Buffer.allocUnsafe(chunkSize)
              filled = 0
            }
          }
        }
        if (filled > 0 || chunk === 0) await writeChunk(buffer.subarray(0, filled))
      } catch (err) {
        await reader.cancel().catch(() => {})
        await sql`delete from ops.artifact_content where path = ${path}`.catch(() => {})
        throw toOpsError(err)
      }
      return { storagePath: path, size, sha256: hash.digest('hex') }
    },

    async get(storagePath) {
      const [first] =
        await sql`select count(*)::int as n from ops.artifact_content where path = ${storagePath}`.catch(
          (err) => {
            throw toOpsError(err)
          },
        )
      const chunks = Number(first?.n ?? 0)
      if (chunks === 0) throw new NotFoundError(`no artifact content at ${storagePath}`)
      let next = 0
      // One chunk per pull: the consumer's pace sets the reads, so memory stays at one chunk.
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (next >= chunks) {
            controller.close()
            return
          }
          const [row] =
            await sql`select data from ops.artifact_content where path = ${storagePath} and chunk = ${next}`
          next++
          if (!row) controller.error(new NotFoundError(`chunk ${next - 1} of ${storagePath} is missing`))
          else controller.enqueue(new Uint8Array(row.data as Buffer))
        },
      })
    },

    async delete(storagePaths) {
      if (storagePaths.length === 0) return
      await sql`delete from ops.artifact_content where path = any(${sql.array([...storagePaths])}::text[])`.catch(
        (err) => {
          throw toOpsError(err)
        },
      )
    },

    async close() {
      if (owned) await sql.end({ timeout: 5 })
    },
  }
}
