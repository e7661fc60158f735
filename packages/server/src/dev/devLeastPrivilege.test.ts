import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProgress } from './progress'
import { type DevControlRoom, startDevControlRoom } from './startDevControlRoom'

// A whole dev control room on a throwaway embedded PostgreSQL, in this process.
let room: DevControlRoom
const lines: string[] = []
beforeAll(async () => {
  room = await startDevControlRoom({
    port: 0,
    ephemeral: true,
    worker: false,
    specKitRepo: false,
    jwtIssuer: 'ops-dev-issuer',
    jwtAudience: 'ops-dev-audience',
    progress: createProgress({ write: (line: string) => void lines.push(line) } as never),
  })
}, 120_000)
afterAll(async () => {
  await room?.close()
})

describe('ops-control-room dev serves its API with least privilege', () => {
  it('through ops_executor, never the superuser the cluster was made with', async () => {
    expect(room.apiRole).toBe('ops_executor')
    const headers = { authorization: `Bearer ${room.token}`, 'content-type': 'application/json' }
    const created = await fetch(`${room.url}/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'least privilege' }),
    })
    expect(created.status).toBe(201)
    const sql = postgres(room.databaseUrl, { max: 1, onnotice: () => {} })
    try {
      const users = await sql`
        select distinct usename from pg_stat_activity where application_name = 'ops-control-room server'`
      expect(users.map((u) => u.usename)).toEqual(['ops_executor'])
      const [su] = await sql`select rolsuper, rolinherit from pg_roles where rolname = 'ops_executor'`
      expect(su).toEqual({ rolsuper: false, rolinherit: false })
    } finally {
      await sql.end()
    }
  })

  it('mints its token with the configured issuer and audience, which the server accepts', async () => {
    const claims = JSON.parse(Buffer.from(room.token.split('.')[1] as string, 'base64url').toString()) as {
      iss?: string
      aud?: string
    }
    expect([claims.iss, claims.aud]).toEqual(['ops-dev-issuer', 'ops-dev-audience'])
    const ok = await fetch(`${room.url}/sessions`, { headers: { authorization: `Bearer ${room.token}` } })
    expect(ok.status).toBe(200)
  })
})
