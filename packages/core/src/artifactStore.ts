/**
 * Where artifact content lives. The database records each artifact (name, kind, size, sha256, storage
 * path); a store keeps the bytes. Implementations: PostgreSQL and filesystem stores
 * (`@ops-control-room/worker`), and stores that upload through the executor API or to Supabase
 * Storage. Stores stream: memory stays flat whatever the size.
 */

/** Content to store: text, bytes, a Blob, a web stream or any async iterable of bytes. */
export type ArtifactBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>

export interface ArtifactPutInput {
  runId: string
  /** A file name, not a path. */
  name: string
  contentType: string
  body: ArtifactBody
  /** Known size in bytes, if any (lets a store pre-check limits). */
  size?: number
}

/** What a store reports about content it stored. */
export interface StoredArtifact {
  storagePath: string
  size: number
  /** Lowercase hex SHA-256 of the content. */
  sha256: string
}

export interface ArtifactStore {
  /** A short name for logs: 'postgres', 'filesystem', 'http', 'supabase'. */
  readonly kind: string
  /** Stores content and reports its path, size and sha256. */
  put(input: ArtifactPutInput): Promise<StoredArtifact>
  /** Streams stored content back. @throws NotFoundError */
  get(storagePath: string): Promise<ReadableStream<Uint8Array>>
  /** Deletes content (missing paths are ignored). */
  delete(storagePaths: readonly string[]): Promise<void>
  /** A time-limited URL to download the content from, where the store can sign one. */
  downloadUrl?(
    storagePath: string,
    options?: { expiresInSeconds?: number; fileName?: string },
  ): Promise<string>
}

/** Turns any ArtifactBody into a web ReadableStream of bytes. */
export function toByteStream(body: ArtifactBody): ReadableStream<Uint8Array> {
  if (typeof body === 'string') return new Blob([body]).stream()
  if (body instanceof Uint8Array) return new Blob([body as Uint8Array<ArrayBuffer>]).stream()
  if (body instanceof ArrayBuffer) return new Blob([body]).stream()
  if (typeof Blob !== 'undefined' && body instanceof Blob) return body.stream()
  if (body instanceof ReadableStream) return body
  const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    async cancel() {
      await iterator.return?.()
    },
  })
}
