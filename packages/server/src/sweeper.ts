import type { ArtifactContentStore } from '@ops-control-room/core'
import type postgres from 'postgres'

export interface ArtifactSweeperOptions {
  sql: postgres.Sql
  store?: ArtifactContentStore
  /** How often to purge. Default one hour. */
  intervalMs?: number
  /** Most artifacts purged per round trip. Default 1000. */
  batchSize?: number
  onError?: (error: unknown) => void
}

/**
 * Retention: deletes expired artifacts (`ops.purge_expired_artifacts`, 90 days by default) and then
 * their stored content, batch after batch until none is left, every `intervalMs`. Content is
 * deleted after the rows' commit, so a crash in between leaves unreachable files, never records
 * without content. Several servers may sweep at once: the SQL function skips locked rows.
 */
export function startArtifactSweeper(options: ArtifactSweeperOptions) {
  const batchSize = options.batchSize ?? 1000
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<number> | undefined
  let stopped = false

  async function purgeOnce(): Promise<number> {
    let total = 0
    for (;;) {
      // As service_role, the role purging is granted to: the server may log in as a role that holds
      // no privilege of its own (migrate's executorRole).
      const rows = await options.sql.begin(async (tx) => {
        await tx`select set_config('role', 'service_role', true)`
        return await tx`select storage_path from ops.purge_expired_artifacts(${batchSize})`
      })
      const paths = rows.map((r) => r.storage_path).filter((p): p is string => typeof p === 'string')
      if (options.store && paths.length) await options.store.delete(paths)
      total += rows.length
      if (rows.length < batchSize || stopped) return total
    }
  }

  const purge = (): Promise<number> => {
    running ??= purgeOnce().finally(() => {
      running = undefined
    })
    return running
  }

  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      purge()
        .catch((err) => options.onError?.(err))
        .finally(schedule)
    }, options.intervalMs ?? 3_600_000)
    timer.unref?.()
  }
  schedule()

  return {
    /** Purges now; resolves with how many artifacts were deleted. */
    purge,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running?.catch(() => {})
    },
  }
}
