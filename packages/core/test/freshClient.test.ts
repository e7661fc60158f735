import { createOpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase } from '@ops-control-room/testing'
import { expect, it } from 'vitest'

it('a fresh client can claim as its first query', async () => {
  const db = await createTestDatabase()
  const seed = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  const s = await seed.sessions.create({ name: 'x' })
  await seed.runs.enqueue({ sessionId: s.id, runs: [{ kind: 'a', lane: 'B' }] })
  await seed.close()
  const client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
  try {
    const runs = await client.worker.claim({ workerId: 'w', lanes: { A: 1, B: 1 }, kinds: ['a'] })
    expect(runs).toHaveLength(1)
    const fresh = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
    expect(
      await fresh.worker.heartbeat({
        workerId: 'w',
        runs: [{ id: runs[0]!.id, lease: runs[0]!.lease as string }],
      }),
    ).toEqual({
      cancel: [],
      lost: [],
    })
    await fresh.close()
  } finally {
    await client.close()
    await db.drop()
  }
})
