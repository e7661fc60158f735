'use client'
import type { OpsClient } from '@ops-control-room/core'
import { createContext, type ReactNode, useContext, useState } from 'react'
import { createOpsStore, type OpsStore, type OpsStoreOptions } from './store/opsStore'

const OpsContext = createContext<OpsStore | null>(null)

export interface OpsProviderProps extends OpsStoreOptions {
  /** A client from `createOpsClient` (any backend: http in the browser, postgres in tests or on a server). */
  client: OpsClient
  children?: ReactNode
}

/**
 * Makes an Ops client available to the hooks and components below it. The provider shares one
 * change stream and one cache of queries among them; it does not close the client.
 *
 * @example
 * import { createOpsClient, httpBackend } from '@ops-control-room/core/client'
 * import { OpsProvider, Runboard } from '@ops-control-room/react'
 * import '@ops-control-room/react/styles.css'
 *
 * const client = createOpsClient({ backend: httpBackend({ url: '/api', token }) })
 * <OpsProvider client={client}><Runboard sessionId={id} /></OpsProvider>
 */
export function OpsProvider({ client, children, ...options }: OpsProviderProps) {
  if (!client || typeof client.runs?.list !== 'function') {
    throw new TypeError(
      'OpsProvider needs a client: <OpsProvider client={createOpsClient({ backend: httpBackend({ url, token }) })}>',
    )
  }
  // One store per client; options are read when it is created. No dispose on unmount: the store
  // closes its change stream itself once no component watches (after a short linger), which keeps
  // StrictMode's unmount-and-remount from tearing down a store that is still in use.
  const [store, setStore] = useState(() => createOpsStore(client, options))
  if (store.client !== client) {
    setStore(createOpsStore(client, options))
  }
  return <OpsContext.Provider value={store}>{children}</OpsContext.Provider>
}

/** The provider's store. Throws a message that says what to do when used outside `OpsProvider`. */
export function useOpsStore(hookName = 'useOpsStore'): OpsStore {
  const store = useContext(OpsContext)
  if (!store) {
    throw new Error(
      `${hookName} must be used inside <OpsProvider client={client}>: wrap your app (or the part that uses Ops Control Room) in OpsProvider with a client from createOpsClient().`,
    )
  }
  return store
}

/** The client given to the nearest `OpsProvider`. */
export function useOpsClient(): OpsClient {
  return useOpsStore('useOpsClient').client
}
