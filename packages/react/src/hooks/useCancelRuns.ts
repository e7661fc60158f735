'use client'
import type { Run } from '@ops-control-room/core'
import { useOpsStore } from '../OpsProvider'
import { type MutationResult, useMutation } from './useMutation'

/**
 * Cancels many runs in one call (`client.runs.cancelMany`): queued ones at once, running ones are
 * told to stop. Finished runs come back unchanged.
 */
export function useCancelRuns(): MutationResult<[runIds: string[], reason?: string], Run[]> {
  const ops = useOpsStore('useCancelRuns')
  return useMutation(async (runIds: string[], reason?: string) => {
    const runs = await ops.client.runs.cancelMany({ ids: runIds, ...(reason ? { reason } : {}) })
    ops.invalidate('runs')
    ops.invalidate('stats')
    return runs
  })
}
