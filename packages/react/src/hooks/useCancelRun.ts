'use client'
import type { Run } from '@ops-control-room/core'
import { useOpsStore } from '../OpsProvider'
import { type MutationResult, useMutation } from './useMutation'

/**
 * Cancels a run: a queued run is cancelled at once, a running one is told to stop (its status turns
 * `cancelled` when its worker acknowledges). Watched run queries update through the change stream.
 *
 * @example
 * const cancel = useCancelRun()
 * <button onClick={() => cancel.mutate(run.id, 'not needed')} disabled={cancel.isPending}>Cancel</button>
 */
export function useCancelRun(): MutationResult<[runId: string, reason?: string], Run> {
  const ops = useOpsStore('useCancelRun')
  return useMutation(async (runId: string, reason?: string) => {
    const run = await ops.client.runs.cancel(runId, reason)
    ops.invalidate('runs')
    return run
  })
}
