'use client'
import type { CreateSessionInput, Session } from '@ops-control-room/core'
import { useOpsStore } from '../OpsProvider'
import { type MutationResult, useMutation } from './useMutation'

/** Creates a session; watched session lists read again at once. */
export function useCreateSession(): MutationResult<[input: CreateSessionInput], Session> {
  const ops = useOpsStore('useCreateSession')
  return useMutation(async (input: CreateSessionInput) => {
    const session = await ops.client.sessions.create(input)
    ops.invalidate('sessions')
    return session
  })
}
