'use client'
import type { EnqueueRunsInput, Run } from '@ops-control-room/core'
import { useOpsStore } from '../OpsProvider'
import { type MutationResult, useMutation } from './useMutation'

/** Enqueues runs into a session in one round trip (see `client.runs.enqueue`). */
export function useEnqueueRuns(): MutationResult<[input: EnqueueRunsInput], Run[]> {
  const ops = useOpsStore('useEnqueueRuns')
  return useMutation(async (input: EnqueueRunsInput) => {
    const runs = await ops.client.runs.enqueue(input)
    ops.invalidate('runs')
    ops.invalidate('sessions')
    return runs
  })
}
