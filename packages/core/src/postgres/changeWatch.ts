import type postgres from 'postgres'

/** How long a registration lasts without a refresh, and how often it is refreshed. */
const WATCH_SECONDS = 60
const REFRESH_MS = 20_000

/** A registration in `ops.change_listeners`, held while at least one holder wants run or events changes. */
export interface ChangeWatch {
  /** Registers (for the first holder); resolves once the database announces every later change. */
  acquire(): Promise<void>
  /** Lets go; the registration is removed after the last holder. */
  release(): Promise<void>
}

/**
 * The database sends `ops_run_changes` and `ops_run_events` only while someone is registered as
 * watching (migration 20261130008100), so that workers' claims and completions, which nobody else
 * watches, skip the cluster-wide notify lock. A listener registers with `ops.watch_changes`, refreshes
 * it well inside its expiry, and removes it when done; a crashed process's registration expires.
 *
 * A connection whose login role may not call it (the executor's own role, which may only become the
 * API roles) registers as `service_role`.
 */
export function createChangeWatch(sql: postgres.Sql): ChangeWatch {
  const id = crypto.randomUUID()
  let holders = 0
  let timer: ReturnType<typeof setInterval> | undefined
  // Registrations and removals run one at a time, each applying the state wanted when it runs: a
  // removal still in flight when a new holder arrives cannot land after the new registration (on
  // another connection of the pool) and leave a holder unwatched.
  let chain: Promise<void> = Promise.resolve()

  async function register(seconds: number): Promise<void> {
    try {
      await sql`select ops.watch_changes(${id}::uuid, ${seconds}::int)`
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code !== '42501' && code !== '3F000') throw err
      await sql.begin(async (tx) => {
        await tx`set local role service_role`
        await tx`select ops.watch_changes(${id}::uuid, ${seconds}::int)`
      })
    }
  }

  const sync = (): Promise<void> => {
    const run = chain.then(() => register(holders > 0 ? WATCH_SECONDS : 0))
    chain = run.catch(() => {})
    return run
  }

  return {
    async acquire() {
      holders++
      if (!timer) {
        timer = setInterval(() => {
          if (holders > 0)
            sync().catch(() => {
              // Retried on the next tick, well before the registration expires.
            })
        }, REFRESH_MS)
        ;(timer as { unref?: () => void }).unref?.()
      }
      try {
        await sync()
      } catch (err) {
        holders--
        if (holders === 0 && timer) {
          clearInterval(timer)
          timer = undefined
        }
        throw err
      }
    },
    async release() {
      if (holders === 0) return
      holders--
      if (holders > 0) return
      if (timer) clearInterval(timer)
      timer = undefined
      await sync().catch(() => {
        // Expires by itself.
      })
    },
  }
}
