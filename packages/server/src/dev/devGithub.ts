import { readFile } from 'node:fs/promises'
import { createOpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import type { OpenPullRequest } from '@ops-control-room/spec-kit-handler'
import type { AnyHandler } from '@ops-control-room/worker'
import postgres from 'postgres'

/** The GitHub App integration of a dev control room, when the environment names an App. */
export interface DevGithub {
  /** Mount at `path` on the server. */
  readonly route: { path: string; handler: (request: Request) => Promise<Response> }
  /** The `github_pipeline` and `github_step` handlers, for the in-process worker. */
  readonly workerHandlers: AnyHandler[]
  /** Opens pull requests as the App: `spec_kit_generate` runs that ask for one use it. */
  readonly openPullRequest: OpenPullRequest
  /** Starts reporting check runs. */
  start(): Promise<void>
  close(): Promise<void>
}

const NAMES = ['GITHUB_APP_ID', 'GITHUB_WEBHOOK_SECRET'] as const

/**
 * Reads `GITHUB_APP_ID`, `GITHUB_PRIVATE_KEY` (or `GITHUB_PRIVATE_KEY_PATH`) and
 * `GITHUB_WEBHOOK_SECRET`: with all of them, the dev control room receives the App's webhooks at
 * `/github/webhooks`, runs pipelines on its worker and reports check runs. With none, undefined;
 * with some, an error naming what is missing. `GITHUB_API_URL` points at GitHub Enterprise.
 */
export async function startDevGithub(options: {
  databaseUrl: string
  runboardUrl: string
  env?: Record<string, string | undefined>
}): Promise<DevGithub | undefined> {
  const env = options.env ?? process.env
  const keyPath = env.GITHUB_PRIVATE_KEY_PATH
  const given = [...NAMES, 'GITHUB_PRIVATE_KEY'].filter((n) => env[n]).length + (keyPath ? 1 : 0)
  if (given === 0) return undefined
  const missing = [
    ...NAMES.filter((n) => !env[n]),
    ...(env.GITHUB_PRIVATE_KEY || keyPath ? [] : ['GITHUB_PRIVATE_KEY']),
  ]
  if (missing.length) throw new TypeError(`the GitHub App needs ${missing.join(' and ')} as well`)
  const privateKey = env.GITHUB_PRIVATE_KEY ?? (await readFile(keyPath as string, 'utf8'))
  // Loaded only when an App is configured: Octokit stays out of the way otherwise.
  const github = await import('@ops-control-room/github')
  const sql = postgres(options.databaseUrl, { max: 4, onnotice: () => {} })
  const client = createOpsClient({
    backend: postgresBackend({
      databaseUrl: options.databaseUrl,
      applicationName: 'ops-control-room github',
    }),
  })
  const app = github.createGithubApp({
    appId: env.GITHUB_APP_ID as string,
    privateKey,
    baseUrl: env.GITHUB_API_URL,
  })
  const reporter = github.createCheckReporter({ sql, app, runboardUrl: options.runboardUrl })
  return {
    route: {
      path: '/github/webhooks',
      handler: github.createGithubWebhookHandler({ sql, secret: env.GITHUB_WEBHOOK_SECRET as string }),
    },
    workerHandlers: [github.createPipelineHandler({ app, client }), github.createStepHandler({ app })],
    openPullRequest: github.createPullRequestOpener({ app }),
    start: () => reporter.start(),
    async close() {
      await reporter.stop()
      await client.close()
      await sql.end()
    },
  }
}
