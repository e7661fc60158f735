import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChangeWatch } from '../src/postgres/changeWatch'

let db: TestDatabase
let sql: postgres.Sql
let probe: postgres.Sql
beforeAll(async () => {
  db = await createTestDatabase()
  // A pool: a removal and a registration may travel on different connections.
  sql = postgres(db.url, { max: 4, onnotice: () => {} })
  probe = postgres(db.url, { max: 1, onnotice: () => {} })
})
afterAll(async () => {
  await sql.end()
  await probe.end()
  await db.drop()
})

const watched = async () => (await probe`select ops.changes_watched() as w`)[0]?.w as boolean

describe('the change watch of a backend', () => {
  it('registers for the first holder and removes the registration after the last', async () => {
    const watch = createChangeWatch(sql)
    expect(await watched()).toBe(false)
    await watch.acquire()
    await watch.acquire()
    expect(await watched()).toBe(true)
    await watch.release()
    expect(await watched()).toBe(true)
    await watch.release()
    expect(await watched()).toBe(false)
  })

  it('stays registered when a holder arrives while the last one’s removal is in flight (a remount)', async () => {
    const watch = createChangeWatch(sql)
    for (let i = 0; i < 30; i++) {
      await watch.acquire()
      const leaving = watch.release()
      const arriving = watch.acquire()
      await Promise.all([leaving, arriving])
      expect(await watched(), `round ${i}`).toBe(true)
      await watch.release()
      expect(await watched(), `round ${i}`).toBe(false)
    }
  })
})
