import { type CliCommand, flagOrEnv, intFlag } from '../cliCommand'
import { SERVER_FLAGS, SERVER_FLAGS_USAGE, serverOptionsFromFlags } from '../commands/serverFlags'
import { createProgress } from './progress'
import { startDevControlRoom } from './startDevControlRoom'

const usage = `ops-control-room dev [options]

Starts the whole control room locally: an embedded PostgreSQL, the migrations, the server, an
in-process worker (shell, sleep, demo handlers), and the Runboard web app. Ctrl-C stops it.

  --port <n>                    port of the Runboard and API            (env PORT, default 8787; 0 = any free)
  --host <host>                 interface                               (default 127.0.0.1)
  --data-dir <dir>              project folder for data                 (default ./.ops-data)
  --ephemeral                   a throwaway database, removed on exit
  --database-url <url>          use this PostgreSQL instead             (env DATABASE_URL)
  --app-dir <dir>               the built Runboard app                  (default examples/runboard/dist)
  --no-worker                   do not start the in-process worker
  --concurrency <n>             worker runs at once per lane            (default 2)
  --pg-port <n>                 port of the embedded PostgreSQL         (env OPS_PG_PORT, default any free)
${SERVER_FLAGS_USAGE}
  -h, --help                    this text

The API is served through the ops_executor role (created with a fresh random password each start,
unless --executor-password names one); the migrations and the in-process worker use the database's
own user.

Dev-mode auth: the browser app receives a service_role token from /ops-config.json. This is for a
local machine only: do not expose a dev control room to a network.`

/** `ops-control-room dev`: the local control room until Ctrl-C. */
export const devCommand: CliCommand = {
  name: 'dev',
  summary: 'run the whole control room locally (embedded PostgreSQL, server, worker, Runboard)',
  usage,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    ephemeral: { type: 'boolean' },
    'database-url': { type: 'string' },
    'app-dir': { type: 'string' },
    'no-worker': { type: 'boolean' },
    concurrency: { type: 'string' },
    'pg-port': { type: 'string' },
    ...SERVER_FLAGS,
  },
  async run(flags) {
    const str = (flag: string, env?: string) => flagOrEnv(flags, flag, env)
    const shared = serverOptionsFromFlags(flags)
    const progress = createProgress()
    const room = await startDevControlRoom({
      jwtIssuer: shared.jwtIssuer,
      jwtAudience: shared.jwtAudience,
      rateLimit: shared.rateLimit,
      executorRole: shared.executorRole,
      port: intFlag(str('port', 'PORT'), '--port (PORT)') ?? 8787,
      host: str('host'),
      dataDir: str('data-dir'),
      ephemeral: flags.ephemeral === true,
      databaseUrl: str('database-url', 'DATABASE_URL'),
      appDir: str('app-dir'),
      worker: flags['no-worker'] !== true,
      concurrency: intFlag(str('concurrency'), '--concurrency', 1),
      pgPort: intFlag(str('pg-port', 'OPS_PG_PORT'), '--pg-port (OPS_PG_PORT)', 1),
      progress,
    })
    // The handler is in place before the line that says to press Ctrl-C: a reader that acts on that
    // line (a script, a test) may otherwise send SIGINT in the moment between the two, and find none.
    // One SIGINT listener from here to the end: were there a moment with none (between a `once`
    // listener and the next), a SIGINT relayed by a wrapper (tsx, pnpm, npm exec) right after the
    // terminal's would kill the process before it stops anything. A second Ctrl-C while stopping
    // forces the exit; one within a second of the first is such a relay, and does not count.
    let stoppingAt: number | undefined
    let onSignal = () => {}
    const stopAsked = new Promise<void>((resolve) => {
      onSignal = () => {
        if (stoppingAt === undefined) {
          stoppingAt = Date.now()
          resolve()
          return
        }
        if (Date.now() - stoppingAt < 1000) return
        progress.fail('stopping forcefully')
        process.exit(130)
      }
      process.on('SIGINT', onSignal)
      process.once('SIGTERM', () => onSignal())
    })
    console.log(`\n  Ops Control Room is running: ${room.url}\n  Press Ctrl-C to stop.\n`)
    await stopAsked
    const done = progress.step('stopping (worker, server, PostgreSQL)')
    await room.close()
    done()
    process.off('SIGINT', onSignal)
    return 0
  },
}
