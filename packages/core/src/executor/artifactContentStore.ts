/**
 * What the executor API needs of an artifact store: content goes straight between the caller and the
 * store through signed, expiring URLs, never through the API's own request bodies. The filesystem
 * store of `@ops-control-room/server` and the Supabase Storage store implement it.
 */
export interface ArtifactContentStore {
  /** A short name for logs: 'filesystem', 'supabase'. */
  readonly kind: string
  /** A URL to PUT the content of `storagePath` to, valid for `expiresInSeconds`. */
  createUploadUrl(input: {
    storagePath: string
    contentType: string
    /** Refuse uploads larger than this, when given. */
    maxSize?: number
    expiresInSeconds: number
  }): Promise<{ url: string; headers: Record<string, string> }>
  /** A URL to GET the content of `storagePath` from, valid for `expiresInSeconds`. */
  createDownloadUrl(
    storagePath: string,
    options: { expiresInSeconds: number; fileName?: string },
  ): Promise<string>
  /** Size and sha256 (lowercase hex) of stored content, or null when there is none. */
  stat(storagePath: string): Promise<{ size: number; sha256: string } | null>
  /** Deletes content; missing paths are ignored. */
  delete(storagePaths: readonly string[]): Promise<void>
}
