'use client'
import type { Run } from '@ops-control-room/core'
import { useOpsStore } from '../OpsProvider'
import { type MutationResult, useMutation } from './useMutation'

/**
 * Retries failed or cancelled runs as a new attempt of the same run (`client.runs.retry`, one SQL
 * call: `ops.retry_runs`). Runs in another status come back unchanged.
 *
 * @example
 * const retry = useRetryRuns()
 * <button onClick={() => retry.mutate([run.id])} disabled={retry.isPending}>Retry</button>
 */
export function useRetryRuns(): MutationResult<[runIds: string[], runAt?: string], Run[]> {
  const ops = useOpsStore('useRetryRuns')
  return useMutation(async (runIds: string[], runAt?: string) => {
    const runs = await ops.client.runs.retry({ ids: runIds, ...(runAt ? { runAt } : {}) })
    ops.invalidate('runs')
    ops.invalidate('stats')
    return runs
  })
}
