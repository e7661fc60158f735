import { alertChannelsFromEnv } from '../alertNotifier'
import { type CliCommand, flagOrEnv, intFlag } from '../cliCommand'
import { createServer } from '../createServer'
import { SERVER_FLAGS, SERVER_FLAGS_USAGE, serverOptionsFromFlags } from './serverFlags'

const usage = `ops-control-room serve [options]

Serves the executor API, the live change stream and signed artifact URLs on Node.

  --database-url <url>          PostgreSQL URL                          (env DATABASE_URL)
  --jwt-secret <secret>         HS256 secret tokens are signed with     (env OPS_JWT_SECRET)
  --artifacts-dir <dir>         where artifact content is kept          (env OPS_ARTIFACTS_DIR, default ./.ops-data/artifacts)
  --port <n>                    TCP port                                (env PORT, default 8787)
  --host <host>                 interface                               (env HOST, default 127.0.0.1)
  --public-url <url>            URL clients reach the server at         (env OPS_PUBLIC_URL)
  --migrate                     apply the migrations first
${SERVER_FLAGS_USAGE}
  -h, --help                    this text`

/** `ops-control-room serve`: the self-hosted server until SIGINT/SIGTERM. */
export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'serve the executor API, live changes and artifacts on Node',
  usage,
  options: {
    'database-url': { type: 'string' },
    'jwt-secret': { type: 'string' },
    'artifacts-dir': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    migrate: { type: 'boolean' },
    ...SERVER_FLAGS,
  },
  async run(flags) {
    const str = (flag: string, env: string) => flagOrEnv(flags, flag, env)
    const databaseUrl = str('database-url', 'DATABASE_URL')
    const jwtSecret = str('jwt-secret', 'OPS_JWT_SECRET')
    if (!databaseUrl || !jwtSecret) {
      console.error('serve needs --database-url (or DATABASE_URL) and --jwt-secret (or OPS_JWT_SECRET)\n')
      console.error(usage)
      return 2
    }
    const shared = serverOptionsFromFlags(flags)
    const port = intFlag(str('port', 'PORT'), '--port (PORT)') ?? 8787
    const server = await createServer({
      ...shared,
      databaseUrl,
      jwtSecret,
      artifactsDir: str('artifacts-dir', 'OPS_ARTIFACTS_DIR') ?? './.ops-data/artifacts',
      port,
      host: str('host', 'HOST') ?? '127.0.0.1',
      publicUrl: str('public-url', 'OPS_PUBLIC_URL'),
      migrate: flags.migrate === true,
      // OPS_ALERT_SLACK_WEBHOOK, OPS_ALERT_PAGERDUTY_ROUTING_KEY, OPS_ALERT_SMTP_HOST…: see alertNotifier.ts.
      alerts: { channels: alertChannelsFromEnv(process.env) },
    })
    console.log(`ops-control-room: executor API on ${server.url}`)
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await server.close()
    return 0
  },
}
