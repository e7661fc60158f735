'use client'
import { useSyncExternalStore } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { LiveStatus } from '../types'

/** The state of the provider's change stream: 'idle', 'connecting', 'live' or 'error'. */
export function useLiveStatus(): LiveStatus {
  const { hub } = useOpsStore('useLiveStatus')
  return useSyncExternalStore(hub.subscribeStatus, hub.getStatus, hub.getStatus)
}
