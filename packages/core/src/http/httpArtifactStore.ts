import {
  type ArtifactPutInput,
  type ArtifactStore,
  type StoredArtifact,
  toByteStream,
} from '../artifactStore'
import { NotFoundError, PayloadTooLargeError, UnavailableError } from '../errors'
import { errorFromResponse, type HttpBackendOptions } from './httpBackend'
import { toQueryString } from './remoteOperations'
import { createSha256 } from './sha256'

/**
 * An ArtifactStore that uploads through the executor API: it asks for a signed upload URL, streams
 * the content there (hashing it on the way, so memory stays flat), and reports size and sha256; the
 * API checks both against what was stored when the artifact is recorded. Works with the self-hosted
 * server's filesystem store and with Supabase Storage behind the Edge Function.
 *
 * @example
 * const artifacts = httpArtifactStore({ url, token: serviceRoleJwt })
 * const stored = await artifacts.put({ runId, name: 'report.html', contentType: 'text/html', body: html })
 */
export function httpArtifactStore(
  options: Pick<HttpBackendOptions, 'url' | 'token' | 'fetch' | 'headers' | 'timeoutMs'> & {
    /**
     * An upload (or download request) with no progress for this long is aborted: the body sent no
     * byte, or the server did not answer. Default 60 000 ms.
     */
    idleTimeoutMs?: number
  },
): ArtifactStore {
  const timeoutMs = options.timeoutMs ?? 30_000
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000
  const base = options.url.replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const auth = async () => ({
    ...options.headers,
    authorization: `Bearer ${typeof options.token === 'function' ? await options.token() : options.token}`,
  })

  async function api<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    query?: Record<string, unknown>,
  ): Promise<T> {
    let response: Response
    try {
      response = await doFetch(`${base}${path}${toQueryString(query)}`, {
        method,
        headers: { ...(await auth()), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw new UnavailableError(`the executor API at ${base} is unreachable`, { cause: err })
    }
    if (!response.ok) throw await errorFromResponse(response)
    return (await response.json()) as T
  }

  const downloadUrl = async (storagePath: string, opts: { expiresInSeconds?: number } = {}) =>
    (
      await api<{ url: string }>('GET', '/artifacts/download-url', undefined, {
        storagePath,
        expiresInSeconds: opts.expiresInSeconds,
      })
    ).url

  return {
    kind: 'http',

    async put(input: ArtifactPutInput): Promise<StoredArtifact> {
      const target = await api<{ url: string; headers: Record<string, string>; storagePath: string }>(
        'POST',
        '/artifacts/upload-url',
        { runId: input.runId, name: input.name, contentType: input.contentType, size: input.size },
      )
      const hash = createSha256()
      let size = 0
      // Aborted when nothing moves for idleTimeoutMs: each chunk sent re-arms the timer.
      const abort = new AbortController()
      let idle: ReturnType<typeof setTimeout> | undefined
      const rearm = () => {
        clearTimeout(idle)
        idle = setTimeout(() => abort.abort(new Error(`no progress for ${idleTimeoutMs} ms`)), idleTimeoutMs)
      }
      const counted = toByteStream(input.body).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            rearm()
            hash.update(chunk)
            size += chunk.byteLength
            controller.enqueue(chunk)
          },
        }),
      )
      let response: Response
      rearm()
      try {
        response = await doFetch(target.url, {
          method: 'PUT',
          headers: { 'content-type': input.contentType, ...target.headers },
          body: counted,
          signal: abort.signal,
          // Streaming request bodies need half-duplex in Node's fetch (and are fine in Deno).
          duplex: 'half',
        } as RequestInit)
      } catch (err) {
        throw new UnavailableError(
          abort.signal.aborted
            ? `uploading ${input.name} stalled: no progress for ${idleTimeoutMs} ms`
            : `uploading ${input.name} failed`,
          { cause: err },
        )
      } finally {
        clearTimeout(idle)
      }
      if (response.status === 413) throw new PayloadTooLargeError(`${input.name} is over the upload limit`)
      if (!response.ok) throw await errorFromResponse(response)
      await response.body?.cancel()
      return { storagePath: target.storagePath, size, sha256: hash.hex() }
    },

    async get(storagePath: string): Promise<ReadableStream<Uint8Array>> {
      const url = await downloadUrl(storagePath)
      const response = await doFetch(url)
      if (response.status === 404) throw new NotFoundError(`no content at ${storagePath}`)
      if (!response.ok || !response.body) throw await errorFromResponse(response)
      return response.body
    },

    async delete(storagePaths: readonly string[]): Promise<void> {
      if (storagePaths.length === 0) return
      await api('POST', '/artifacts/delete-content', { storagePaths })
    },

    downloadUrl,
  }
}
