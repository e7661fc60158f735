import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, relative, resolve, sep } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  type ArtifactPutInput,
  type ArtifactStore,
  NotFoundError,
  type StoredArtifact,
  toByteStream,
  ValidationError,
} from '@ops-control-room/core'

export interface FilesystemArtifactStoreOptions {
  /** The folder that holds the content; created when missing. */
  root: string
}

/**
 * Keeps artifact content as files under `root` (`<runId>/<uuid>-<name>`), streamed in and out,
 * with the SHA-256 computed on the way in: memory stays flat at any size. A file appears under its
 * final name only once complete (written to a temporary name, then renamed).
 *
 * @example
 * const store = filesystemArtifactStore({ root: '/var/lib/ops/artifacts' })
 */
export function filesystemArtifactStore(options: FilesystemArtifactStoreOptions): ArtifactStore {
  if (!options?.root)
    throw new TypeError('filesystemArtifactStore needs { root }: a folder for artifact files')
  const root = resolve(options.root)

  // storage paths are relative to root and must stay inside it.
  const locate = (storagePath: string): string => {
    const full = resolve(root, storagePath)
    const rel = relative(root, full)
    if (!rel || rel.startsWith('..') || rel.includes(`..${sep}`) || resolve(root, rel) !== full) {
      throw new ValidationError(`storage path ${storagePath} points outside the artifact folder`)
    }
    return full
  }

  return {
    kind: 'filesystem',

    async put(input: ArtifactPutInput): Promise<StoredArtifact> {
      if (!input.name || /[/\\]/.test(input.name) || input.name === '.' || input.name === '..') {
        throw new ValidationError(
          `artifact name ${JSON.stringify(input.name)} must be a file name, not a path`,
        )
      }
      if (!/^[0-9a-zA-Z-]+$/.test(input.runId))
        throw new ValidationError(`run id ${input.runId} is not valid`)
      const storagePath = `${input.runId}/${randomUUID()}-${input.name}`
      const target = locate(storagePath)
      const temp = `${target}.partial`
      await mkdir(dirname(target), { recursive: true })
      const hash = createHash('sha256')
      let size = 0
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          size += chunk.length
          callback(null, chunk)
        },
      })
      try {
        await pipeline(
          Readable.fromWeb(toByteStream(input.body) as import('node:stream/web').ReadableStream),
          measure,
          createWriteStream(temp, { flags: 'wx' }),
        )
        await rename(temp, target)
      } catch (err) {
        await rm(temp, { force: true }).catch(() => {})
        throw err
      }
      return { storagePath, size, sha256: hash.digest('hex') }
    },

    async get(storagePath) {
      const full = locate(storagePath)
      try {
        const s = await stat(full)
        if (!s.isFile()) throw new Error('not a file')
      } catch (err) {
        throw new NotFoundError(`no artifact content at ${storagePath}`, { cause: err })
      }
      return Readable.toWeb(createReadStream(full)) as unknown as ReadableStream<Uint8Array>
    },

    async delete(storagePaths) {
      await Promise.all(storagePaths.map((p) => rm(locate(p), { force: true })))
    },
  }
}
