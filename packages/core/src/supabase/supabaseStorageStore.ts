import { UnavailableError } from '../errors'
import type { ArtifactContentStore } from '../executor/artifactContentStore'
import { createSha256 } from '../http/sha256'

/** The parts of a supabase-js client (with the service role key) this store uses. */
export interface SupabaseStorageLike {
  storage: {
    from(bucket: string): {
      createSignedUploadUrl(path: string): Promise<{ data: { signedUrl: string } | null; error: unknown }>
      createSignedUrl(
        path: string,
        expiresIn: number,
        options?: { download?: string | boolean },
      ): Promise<{ data: { signedUrl: string } | null; error: unknown }>
      remove(paths: string[]): Promise<{ error: unknown }>
    }
  }
}

const fail = (what: string, error: unknown) =>
  new UnavailableError(`Supabase Storage: ${what}: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  })

/**
 * Artifact content in a Supabase Storage bucket (default `artifacts`, private): uploads go straight to
 * Storage through its signed upload URLs, downloads through signed URLs. `stat` streams the object
 * through an incremental SHA-256, so the executor can check an upload's hash on confirmation.
 * Storage fixes an upload URL's lifetime itself (two hours), whatever `expiresInSeconds` asks.
 *
 * @example
 * const store = supabaseStorageStore(createClient(SUPABASE_URL, SERVICE_ROLE_KEY))
 */
export function supabaseStorageStore(
  client: SupabaseStorageLike,
  options: { bucket?: string; fetch?: typeof fetch } = {},
): ArtifactContentStore {
  const bucket = () => client.storage.from(options.bucket ?? 'artifacts')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  return {
    kind: 'supabase',
    async createUploadUrl({ storagePath, contentType }) {
      const { data, error } = await bucket().createSignedUploadUrl(storagePath)
      if (error || !data) throw fail('createSignedUploadUrl', error)
      return { url: data.signedUrl, headers: { 'content-type': contentType, 'x-upsert': 'false' } }
    },
    async createDownloadUrl(storagePath, { expiresInSeconds, fileName }) {
      const { data, error } = await bucket().createSignedUrl(storagePath, expiresInSeconds, {
        download: fileName ?? true,
      })
      if (error || !data) throw fail('createSignedUrl', error)
      return data.signedUrl
    },
    async stat(storagePath) {
      const { data, error } = await bucket().createSignedUrl(storagePath, 60)
      if (error || !data) return null
      const response = await doFetch(data.signedUrl)
      if (response.status === 404 || response.status === 400) return null
      if (!response.ok || !response.body) throw fail('download', new Error(`status ${response.status}`))
      const hash = createSha256()
      let size = 0
      const reader = response.body.getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        hash.update(value)
        size += value.byteLength
      }
      return { size, sha256: hash.hex() }
    },
    async delete(storagePaths) {
      for (let i = 0; i < storagePaths.length; i += 1000) {
        const { error } = await bucket().remove(storagePaths.slice(i, i + 1000))
        if (error) throw fail('remove', error)
      }
    },
  }
}
