import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { link, mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, resolve, sep } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  type ArtifactContentStore,
  ArtifactName,
  type ArtifactPutInput,
  type ArtifactStore,
  ContentType,
  NotFoundError,
  type StoredArtifact,
  toByteStream,
  ValidationError,
} from '@ops-control-room/core'
import { encodeStoragePath, type SignedGrant, signGrant, verifyGrant } from './signedUrl'

export interface FilesystemArtifactStoreOptions {
  /** The folder content is kept in (created if missing). */
  root: string
  /** The server's public base URL; signed URLs point at `<publicUrl>/artifact-content/<path>`. */
  publicUrl: string | (() => string)
  /** The HMAC key of signed URLs. */
  signingSecret: string
  /** Largest upload accepted, in bytes. Default 1 GiB. */
  maxUploadBytes?: number
}

/** The path prefix the server routes to `handleRequest`. */
export const CONTENT_PREFIX = '/artifact-content/'

interface Meta {
  size: number
  sha256: string
  contentType: string
}

class SizeLimitError extends Error {}

/** Refuses a content type that could split headers (CR, LF) or is not a media type. */
function checkContentType(contentType: string): void {
  if (!ContentType.safeParse(contentType).success) {
    throw new ValidationError(
      `content type ${JSON.stringify(contentType.slice(0, 100))} must be a media type in visible ASCII`,
    )
  }
}

/**
 * A filesystem artifact store with HMAC-signed, expiring upload and download URLs. Content streams
 * to a temporary file while it is hashed (memory stays flat at any size), then is linked into place
 * write-once: an upload URL cannot replace content already stored. Storage paths are checked
 * segment by segment and resolved inside the root, so no path can leave it.
 */
export function createFilesystemArtifactStore(options: FilesystemArtifactStoreOptions) {
  const root = resolve(options.root)
  const objects = resolve(root, 'objects')
  const metas = resolve(root, 'meta')
  const tmp = resolve(root, 'tmp')
  const maxUploadBytes = options.maxUploadBytes ?? 1024 * 1024 * 1024
  const publicUrl = () =>
    (typeof options.publicUrl === 'function' ? options.publicUrl() : options.publicUrl).replace(/\/+$/, '')
  let ready: Promise<void> | undefined
  const ensureDirs = () => {
    ready ??= Promise.all([objects, metas, tmp].map((d) => mkdir(d, { recursive: true }))).then(() => {})
    return ready
  }

  /** Resolves a storage path inside the root, or throws: no '..', no absolute paths, no NUL bytes. */
  function locate(storagePath: string): { file: string; meta: string } {
    const segments = storagePath.split('/')
    if (
      storagePath.length === 0 ||
      storagePath.length > 1024 ||
      segments.some((s) => s === '' || s === '.' || s === '..' || /[\\\0]/.test(s))
    ) {
      throw new ValidationError(`not a storage path: ${JSON.stringify(storagePath.slice(0, 100))}`)
    }
    // Each segment is a file name, and its metadata file adds ".json": file systems allow 255 bytes.
    if (segments.some((s) => Buffer.byteLength(s) > 250)) {
      throw new ValidationError('a storage path segment is over 250 bytes')
    }
    const file = resolve(objects, ...segments)
    const meta = resolve(metas, ...segments)
    if (!file.startsWith(objects + sep) || !meta.startsWith(metas + sep)) {
      throw new ValidationError('the storage path leaves the store')
    }
    return { file, meta: `${meta}.json` }
  }

  function signedUrl(grant: SignedGrant): string {
    const q = new URLSearchParams({ op: grant.op, exp: String(grant.expires) })
    if (grant.maxSize !== undefined) q.set('max', String(grant.maxSize))
    if (grant.label !== undefined) q.set('label', grant.label)
    q.set('sig', signGrant(options.signingSecret, grant))
    return `${publicUrl()}${CONTENT_PREFIX}${encodeStoragePath(grant.storagePath)}?${q}`
  }

  /** Streams `source` into place; returns its size and sha256. Throws SizeLimitError past `max`. */
  async function write(
    storagePath: string,
    source: Readable,
    contentType: string,
    max: number,
  ): Promise<Meta> {
    const { file, meta } = locate(storagePath)
    await ensureDirs()
    const temp = resolve(tmp, randomUUID())
    const hash = createHash('sha256')
    let size = 0
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length
            if (size > max) return done(new SizeLimitError(`over the limit of ${max} bytes`))
            hash.update(chunk)
            done(null, chunk)
          },
        }),
        createWriteStream(temp, { flags: 'wx' }),
      )
      await mkdir(dirname(file), { recursive: true })
      try {
        await link(temp, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw Object.assign(new Error(`content already exists at ${storagePath}`), { status: 409 })
        }
        throw err
      }
      const m: Meta = { size, sha256: hash.digest('hex'), contentType }
      await mkdir(dirname(meta), { recursive: true })
      const metaTemp = `${temp}.meta`
      await writeFile(metaTemp, JSON.stringify(m))
      await rename(metaTemp, meta)
      return m
    } finally {
      await unlink(temp).catch(() => {})
    }
  }

  async function readMeta(storagePath: string): Promise<Meta | null> {
    const { file, meta } = locate(storagePath)
    try {
      await stat(file)
    } catch {
      return null
    }
    try {
      return JSON.parse(await readFile(meta, 'utf8')) as Meta
    } catch {
      // The content landed but its metadata did not (a crash in between): hash the file itself.
      const hash = createHash('sha256')
      let size = 0
      for await (const chunk of createReadStream(file)) {
        hash.update(chunk as Buffer)
        size += (chunk as Buffer).length
      }
      return { size, sha256: hash.digest('hex'), contentType: 'application/octet-stream' }
    }
  }

  const sendJson = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
    res.end(JSON.stringify(body))
  }
  const sendError = (res: ServerResponse, status: number, code: string, message: string) =>
    sendJson(res, status, { error: { code, message } })

  const store = {
    kind: 'filesystem' as const,
    root,

    async createUploadUrl(input: {
      storagePath: string
      contentType: string
      maxSize?: number
      expiresInSeconds: number
    }) {
      locate(input.storagePath)
      checkContentType(input.contentType)
      const url = signedUrl({
        op: 'put',
        storagePath: input.storagePath,
        expires: Math.floor(Date.now() / 1000) + input.expiresInSeconds,
        maxSize: Math.min(input.maxSize ?? maxUploadBytes, maxUploadBytes),
        label: input.contentType,
      })
      return { url, headers: { 'content-type': input.contentType } }
    },

    async createDownloadUrl(storagePath: string, opts: { expiresInSeconds: number; fileName?: string }) {
      locate(storagePath)
      return signedUrl({
        op: 'get',
        storagePath,
        expires: Math.floor(Date.now() / 1000) + opts.expiresInSeconds,
        label: opts.fileName ?? storagePath.split('/').pop(),
      })
    },

    async stat(storagePath: string) {
      const m = await readMeta(storagePath)
      return m ? { size: m.size, sha256: m.sha256 } : null
    },

    async delete(storagePaths: readonly string[]) {
      for (const p of storagePaths) {
        const { file, meta } = locate(p)
        await rm(file, { force: true })
        await rm(meta, { force: true })
      }
    },

    // The worker-side ArtifactStore interface, for a worker in the same process as the server.
    async put(input: ArtifactPutInput): Promise<StoredArtifact> {
      if (!ArtifactName.safeParse(input.name).success) {
        throw new ValidationError(
          `artifact name ${JSON.stringify(input.name.slice(0, 100))} must be a file name of at most 200 bytes, not a path`,
        )
      }
      checkContentType(input.contentType)
      const storagePath = `${input.runId}/${randomUUID()}/${input.name}`
      const source = Readable.fromWeb(toByteStream(input.body) as never)
      const m = await write(storagePath, source, input.contentType, maxUploadBytes)
      return { storagePath, size: m.size, sha256: m.sha256 }
    },

    async get(storagePath: string): Promise<ReadableStream<Uint8Array>> {
      const { file } = locate(storagePath)
      try {
        await stat(file)
      } catch {
        throw new NotFoundError(`no artifact content at ${storagePath}`)
      }
      return Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>
    },

    async downloadUrl(storagePath: string, opts: { expiresInSeconds?: number; fileName?: string } = {}) {
      return store.createDownloadUrl(storagePath, {
        expiresInSeconds: opts.expiresInSeconds ?? 900,
        fileName: opts.fileName,
      })
    },

    /**
     * Serves a signed URL: PUT streams an upload to disk, GET streams content back. `path` is the
     * request path after CONTENT_PREFIX (still URL-encoded).
     */
    async handleRequest(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
      let storagePath: string
      try {
        storagePath = path.split('/').map(decodeURIComponent).join('/')
        locate(storagePath)
      } catch {
        req.resume()
        return sendError(res, 400, 'validation', 'not a storage path')
      }
      const op =
        req.method === 'PUT' ? 'put' : req.method === 'GET' || req.method === 'HEAD' ? 'get' : undefined
      if (!op || query.get('op') !== op) {
        req.resume()
        return sendError(res, 403, 'forbidden', 'this URL does not allow this method')
      }
      const expires = Number(query.get('exp'))
      const maxRaw = query.get('max')
      const grant: SignedGrant = {
        op,
        storagePath,
        expires,
        ...(maxRaw === null ? {} : { maxSize: Number(maxRaw) }),
        ...(query.get('label') === null ? {} : { label: query.get('label') as string }),
      }
      if (
        !Number.isSafeInteger(expires) ||
        !verifyGrant(options.signingSecret, grant, query.get('sig') ?? '')
      ) {
        req.resume()
        return sendError(res, 403, 'forbidden', 'the signature does not match this URL')
      }
      if (expires < Date.now() / 1000) {
        req.resume()
        return sendError(res, 403, 'forbidden', 'this URL has expired')
      }

      if (op === 'put') {
        const max = Math.min(grant.maxSize ?? maxUploadBytes, maxUploadBytes)
        const declared = Number(req.headers['content-length'] ?? Number.NaN)
        if (declared > max) {
          req.resume()
          res.setHeader('connection', 'close')
          return sendError(res, 413, 'payload_too_large', `the upload is over the limit of ${max} bytes`)
        }
        try {
          const m = await write(storagePath, req, grant.label ?? 'application/octet-stream', max)
          return sendJson(res, 201, { storagePath, size: m.size, sha256: m.sha256 })
        } catch (err) {
          if (err instanceof SizeLimitError) {
            res.setHeader('connection', 'close')
            return sendError(res, 413, 'payload_too_large', `the upload is over the limit of ${max} bytes`)
          }
          if ((err as { status?: number }).status === 409) {
            return sendError(res, 409, 'conflict', (err as Error).message)
          }
          if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') {
            return sendError(res, 400, 'validation', 'the storage path is too long for this store')
          }
          // Only a client that is gone goes unanswered (a fully read request is "destroyed" too).
          if (res.destroyed || req.socket.destroyed) return
          throw err
        }
      }

      const m = await readMeta(storagePath)
      if (!m) return sendError(res, 404, 'not_found', 'no content here')
      const fileName = grant.label ?? storagePath.split('/').pop() ?? 'artifact'
      res.writeHead(200, {
        // Content is whatever a run produced: never let a browser sniff it into HTML, or run it as
        // this origin's page (an SVG or HTML artifact opened directly renders sandboxed, scriptless).
        'content-type': ContentType.safeParse(m.contentType).success
          ? m.contentType
          : 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "sandbox; default-src 'none'",
        'content-length': String(m.size),
        'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(fileName)}`,
        'x-content-sha256': m.sha256,
        'cache-control': 'private, no-store',
      })
      if (req.method === 'HEAD') return res.end()
      await pipeline(createReadStream(locate(storagePath).file), res)
    },
  }
  return store satisfies ArtifactContentStore & ArtifactStore
}

export type FilesystemArtifactStore = ReturnType<typeof createFilesystemArtifactStore>
