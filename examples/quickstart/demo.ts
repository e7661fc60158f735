/**
 * The smallest whole loop: an embedded PostgreSQL, the migrations, a session of 16 runs over four
 * lanes, and four in-process claimers that claim, heartbeat and complete them through the client's
 * worker API — the same calls `@ops-control-room/worker` makes. Run: `pnpm demo`.
 */
import { createOpsClient, LANES, type Run } from '@ops-control-room/core'
import { migrate, postgresBackend } from '@ops-control-room/core/postgres'
import { startEmbeddedPostgres } from '@ops-control-room/testing'

const step = (text: string) => console.log(`› ${text}`)

step('starting an embedded PostgreSQL …')
const pg = await startEmbeddedPostgres()
try {
  const { applied } = await migrate({
    databaseUrl: pg.url,
    onApply: (m) => step(`migration ${m.version}_${m.name}`),
  })
  step(`schema ops ready (${applied.length} migrations)`)

  const ops = createOpsClient({ backend: postgresBackend({ databaseUrl: pg.url }) })
  const session = await ops.sessions.create({ name: 'quickstart', description: '16 runs, four lanes' })
  const runs = await ops.runs.enqueue({
    sessionId: session.id,
    runs: LANES.flatMap((lane) =>
      [0, 1, 2, 3].map((i) => ({ kind: 'greet', lane, priority: i, params: { who: `${lane}${i}` } })),
    ),
  })
  step(`enqueued ${runs.length} runs in session ${session.id}`)

  // One claimer per lane, all at once: SKIP LOCKED keeps them off each other's runs.
  const started = Date.now()
  await Promise.all(
    LANES.map(async (lane) => {
      const workerId = `demo-${lane}`
      for (;;) {
        const claimed: Run[] = await ops.worker.claim({ workerId, lanes: { [lane]: 2 }, kinds: ['greet'] })
        if (claimed.length === 0) return
        await ops.worker.heartbeat({
          workerId,
          runs: claimed.map((r) => ({ id: r.id, lease: r.lease as string })),
          info: { lanes: [lane], kinds: ['greet'] },
        })
        await new Promise((r) => setTimeout(r, 50)) // the "work"
        await ops.worker.appendEvents({
          events: claimed.map((r) => ({
            runId: r.id,
            lease: r.lease as string,
            message: `hello, ${String(r.params.who)}`,
          })),
        })
        await ops.worker.complete({
          workerId,
          results: claimed.map((r) => ({
            id: r.id,
            lease: r.lease as string,
            result: { greeted: r.params.who },
          })),
        })
      }
    }),
  )

  const done = await ops.runs.list({ sessionId: session.id })
  console.log()
  console.table(
    done
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({
        lane: r.lane,
        kind: r.kind,
        status: r.status,
        worker: r.workerId,
        result: JSON.stringify(r.result),
      })),
  )
  const events = await ops.events.list({ runId: done[0]?.id as string })
  step(`history of one run: ${events.map((e) => e.type).join(' → ')}`)
  step(
    `all ${done.filter((r) => r.status === 'succeeded').length} runs succeeded in ${Date.now() - started} ms`,
  )
  await ops.close()
} finally {
  await pg.stop()
}
