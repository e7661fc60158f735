import { createOpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, expect, it } from 'vitest'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(() => db.drop())

// The claim and the enqueue go out as constant texts through `sql.unsafe`, which prepares only when
// asked: prepared, unless the client itself was made with prepare: false (a transaction pooler).
it.each([
  [true, 'prepares the claim and the enqueue'],
  [false, 'prepares nothing when the client was made with prepare: false'],
])('with prepare %s, postgresBackend %s', async (prepare, _what) => {
  // One connection, so the session that ran them is the one asked about its prepared statements.
  const sql = postgres(db.url, { max: 1, prepare, onnotice: () => {} })
  const client = createOpsClient({ backend: postgresBackend({ sql }) })
  try {
    const s = await client.sessions.create({ name: `prepare ${prepare}` })
    const kind = `prep-${prepare}`
    const [run] = await client.runs.enqueue({
      sessionId: s.id,
      runs: [{ kind, lane: 'C', params: { n: 1 } }],
    })
    expect(run).toMatchObject({ kind, lane: 'C', status: 'queued', params: { n: 1 } })
    const claimed = await client.worker.claim({ workerId: 'w-prep', lanes: { C: 5 }, kinds: [kind] })
    expect(claimed.map((r) => [r.id, r.status, r.workerId])).toEqual([[run?.id, 'running', 'w-prep']])
    const texts = (await sql`select statement from pg_prepared_statements`).map((r) => String(r.statement))
    const ours = texts.filter((t) => t.includes('ops.claim_runs') || t.includes('ops.enqueue_runs'))
    expect(ours).toHaveLength(prepare ? 2 : 0)
  } finally {
    await sql.end()
  }
})
