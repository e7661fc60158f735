import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { OpsProvider } from '@ops-control-room/react'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import type { ReactNode } from 'react'

/** A fresh database and two clients over it: one for the UI under test, one playing the worker. */
export async function setupDatabase(): Promise<{
  db: TestDatabase
  client: OpsClient
  worker: OpsClient
  teardown: () => Promise<void>
}> {
  const db = await createTestDatabase()
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url, max: 4 }) })
  const worker = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url, max: 2 }) })
  return {
    db,
    client,
    worker,
    async teardown() {
      await client.close()
      await worker.close()
      await db.drop()
    },
  }
}

/** A wrapper for renderHook/render with a provider over `client` (short linger so tests end fast). */
export function providerFor(client: OpsClient) {
  // biome-ignore lint/correctness/noComponentHookFactories: one wrapper per test render, bound to its client
  return function Wrapper({ children }: { children: ReactNode }) {
    return (
      <OpsProvider client={client} lingerMs={10}>
        {children}
      </OpsProvider>
    )
  }
}

/** Counts how often each client method is called (on the real client: a spy, not a stand-in). */
export function countCalls(client: OpsClient, path: ['runs' | 'events' | 'sessions' | 'artifacts', string]) {
  const ns = client[path[0]] as unknown as Record<string, (...args: unknown[]) => unknown>
  const original = ns[path[1]] as (...args: unknown[]) => unknown
  const calls: unknown[][] = []
  ns[path[1]] = (...args: unknown[]) => {
    calls.push(args)
    return original(...args)
  }
  return {
    calls,
    restore() {
      ns[path[1]] = original
    },
  }
}
