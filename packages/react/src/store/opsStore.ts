import type { Artifact, ArtifactStore, OpsClient } from '@ops-control-room/core'
import { type ChangeHub, type ChangeHubOptions, createChangeHub } from './changeHub'
import { createQueryStore, type QueryStore, type QueryStoreOptions } from './queryStore'

/** A query's identity: its first element names the entity (`runs`, `sessions`, …). */
export type QueryKey = readonly [string, ...unknown[]]

/** Resolves where the browser can download an artifact's content. */
export type ArtifactUrlResolver = (artifact: Artifact, client: OpsClient) => Promise<string | null>

export interface OpsStoreOptions extends ChangeHubOptions {
  /** How long an unwatched query keeps its data for a quick re-mount. Default 60 s. */
  gcMs?: number
  /** Window in which change notifications are coalesced into one read. Default 20 ms. */
  coalesceMs?: number
  /** How often to re-read data that has no change notifications (workers). Default 5 s. */
  pollMs?: number
  /**
   * Where file artifacts are downloaded from: a store that signs download URLs, such as
   * `httpArtifactStore({ url, token })` for the executor API. Without one (and without
   * `artifactUrl`), file artifacts show no content or download link; text and links still work.
   */
  artifactStore?: Pick<ArtifactStore, 'downloadUrl'>
  /** Resolves a file artifact's download URL yourself (overrides `artifactStore`). */
  artifactUrl?: ArtifactUrlResolver
}

/** The provider's state: the client, one change hub, and a cache of query stores. */
export interface OpsStore {
  readonly client: OpsClient
  readonly hub: ChangeHub
  readonly options: Readonly<
    Required<Omit<OpsStoreOptions, 'artifactUrl' | 'artifactStore' | 'lingerMs' | 'retryMs'>>
  >
  /** The store for a key, created by `init` the first time. */
  query<T>(key: QueryKey, init: () => QueryStoreOptions<T>): QueryStore<T>
  /** Marks every cached query whose key starts with `entity` stale (read again if watched). */
  invalidate(entity: string): void
  /** Resolves a download URL for an artifact (null when none can be had). */
  artifactUrl(artifact: Artifact): Promise<string | null>
  dispose(): void
}

interface Entry {
  key: QueryKey
  store: QueryStore<unknown>
  gc?: ReturnType<typeof setTimeout>
}

/** Links are their own URL; files get a signed URL from the store, when there is one. */
const storeArtifactUrl =
  (store: Pick<ArtifactStore, 'downloadUrl'> | undefined): ArtifactUrlResolver =>
  async (artifact) => {
    if (artifact.kind === 'link') return artifact.url
    if (artifact.kind !== 'file' || !artifact.storagePath || !store?.downloadUrl) return null
    return store.downloadUrl(artifact.storagePath, { fileName: artifact.name })
  }

/** Creates the state behind an `OpsProvider` (framework-agnostic; usable without React). */
export function createOpsStore(client: OpsClient, options: OpsStoreOptions = {}): OpsStore {
  const hub = createChangeHub(client, options)
  const resolved = {
    gcMs: options.gcMs ?? 60_000,
    coalesceMs: options.coalesceMs ?? 20,
    pollMs: options.pollMs ?? 5000,
  }
  const resolver = options.artifactUrl ?? storeArtifactUrl(options.artifactStore)
  const cache = new Map<string, Entry>()

  return {
    client,
    hub,
    options: resolved,
    query<T>(key: QueryKey, init: () => QueryStoreOptions<T>): QueryStore<T> {
      const id = JSON.stringify(key)
      let entry = cache.get(id)
      if (!entry) {
        const inner = createQueryStore<T>(hub, { coalesceMs: resolved.coalesceMs, ...init() })
        const created: Entry = { key, store: inner as QueryStore<unknown> }
        // Wrap subscribe to collect the entry once nobody has watched it for gcMs.
        created.store = {
          ...inner,
          getSnapshot: inner.getSnapshot,
          refetch: inner.refetch,
          invalidate: inner.invalidate,
          get size() {
            return inner.size
          },
          subscribe(onStoreChange) {
            if (created.gc) {
              clearTimeout(created.gc)
              created.gc = undefined
            }
            const unsubscribe = inner.subscribe(onStoreChange)
            return () => {
              unsubscribe()
              if (inner.size === 0 && !created.gc) {
                created.gc = setTimeout(() => {
                  if (inner.size === 0 && cache.get(id) === created) cache.delete(id)
                }, resolved.gcMs)
                // In Node (tests, SSR), a cache timer must not keep the process alive.
                ;(created.gc as { unref?: () => void }).unref?.()
              }
            }
          },
        }
        cache.set(id, created)
        entry = created
      }
      return entry.store as QueryStore<T>
    },
    invalidate(entity) {
      for (const entry of cache.values()) if (entry.key[0] === entity) entry.store.invalidate()
    },
    artifactUrl: (artifact) => resolver(artifact, client),
    dispose() {
      for (const entry of cache.values()) clearTimeout(entry.gc)
      cache.clear()
      hub.dispose()
    },
  }
}
