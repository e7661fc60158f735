import { createAppAuth } from '@octokit/auth-app'
import { Octokit } from '@octokit/core'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import Bottleneck from 'bottleneck'

/** The credentials of a GitHub App. Keep them in the environment or a secret store, never in params. */
export interface GithubAppCredentials {
  /** The App's id (a number on the App's settings page). */
  appId: number | string
  /** The App's private key (PEM, PKCS#1 or PKCS#8). */
  privateKey: string
  /** The REST API's base URL. Default https://api.github.com (GitHub Enterprise: https://HOST/api/v3). */
  baseUrl?: string
  /**
   * Minimum time between two writes of one installation (check runs, statuses). GitHub asks
   * integrations to space content-creating requests by at least one second. Default 1000.
   */
  writeIntervalMs?: number
  /** Base of the retry plugin's backoff for 5xx answers, in ms (it waits base × (n+1)²). Default 1000. */
  retryBaseMs?: number
  /** How often a rate-limited request is retried after the wait GitHub asks for. Default 2. */
  rateLimitRetries?: number
}

/** An Octokit with the retry and throttling plugins. */
export const GithubOctokit = Octokit.plugin(retry, throttling)
export type GithubOctokit = InstanceType<typeof GithubOctokit>

/** What the integration needs of a GitHub App: installation clients and short-lived tokens. */
export interface GithubApp {
  /** A client authenticated as one installation (tokens are minted and cached by @octokit/auth-app). */
  installation(installationId: number): GithubOctokit
  /**
   * A short-lived token of one installation, narrowed to one repository and `contents: read`, for
   * cloning. Never store it: it is valid for an hour.
   */
  cloneToken(installationId: number, repository: string): Promise<string>
  /**
   * A client of one installation whose token is narrowed to one repository and the given
   * permissions (e.g. `{ pull_requests: 'write' }`). The token is minted per call and lives an hour.
   */
  repositoryClient(
    installationId: number,
    repository: string,
    permissions: Readonly<Record<string, 'read' | 'write'>>,
  ): Promise<GithubOctokit>
  /** The installation of the App on one repository (asked with the App's JWT, cached). */
  installationOf(owner: string, repo: string, signal?: AbortSignal): Promise<number>
}

/**
 * Creates the App's clients: the App JWT is exchanged for installation tokens by @octokit/auth-app;
 * 5xx answers are retried with backoff and rate-limited answers wait as GitHub's `retry-after` or
 * `x-ratelimit-reset` headers ask (up to `rateLimitRetries` times).
 *
 * @example
 * const app = createGithubApp({ appId: process.env.GITHUB_APP_ID!, privateKey: process.env.GITHUB_PRIVATE_KEY! })
 * const octokit = app.installation(42)
 */
export function createGithubApp(credentials: GithubAppCredentials): GithubApp {
  if (!credentials.appId || !credentials.privateKey) {
    throw new TypeError('createGithubApp needs { appId, privateKey }')
  }
  const baseUrl = credentials.baseUrl?.replace(/\/+$/, '')
  const rateLimitRetries = credentials.rateLimitRetries ?? 2
  // Each App gets its own limiter groups, so two Apps (or two tests) do not pace each other.
  const write = new Bottleneck.Group({ maxConcurrent: 1, minTime: credentials.writeIntervalMs ?? 1000 })
  const clients = new Map<number, GithubOctokit>()
  const make = (installationId: number) =>
    new GithubOctokit({
      baseUrl,
      authStrategy: createAppAuth,
      auth: { appId: credentials.appId, privateKey: credentials.privateKey, installationId },
      retry: { retryAfterBaseValue: credentials.retryBaseMs ?? 1000 },
      throttle: {
        id: `app-${credentials.appId}-${installationId}`,
        write,
        onRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
          retryCount < rateLimitRetries,
        onSecondaryRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
          retryCount < rateLimitRetries,
      },
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    })
  const installation = (installationId: number) => {
    let client = clients.get(installationId)
    if (!client) {
      client = make(installationId)
      clients.set(installationId, client)
    }
    return client
  }
  let appClient: GithubOctokit | undefined
  const installations = new Map<string, number>()
  return {
    installation,
    async repositoryClient(installationId, repository, permissions) {
      const name = repository.includes('/') ? repository.slice(repository.indexOf('/') + 1) : repository
      const auth = (await installation(installationId).auth({
        type: 'installation',
        installationId,
        repositoryNames: [name],
        permissions,
      })) as { token: string }
      return new GithubOctokit({
        baseUrl,
        auth: auth.token,
        retry: { retryAfterBaseValue: credentials.retryBaseMs ?? 1000 },
        throttle: {
          id: `app-${credentials.appId}-${installationId}`,
          write,
          onRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
            retryCount < rateLimitRetries,
          onSecondaryRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
            retryCount < rateLimitRetries,
        },
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      })
    },
    async installationOf(owner, repo, signal) {
      const key = `${owner}/${repo}`.toLowerCase()
      const known = installations.get(key)
      if (known !== undefined) return known
      appClient ??= new GithubOctokit({
        baseUrl,
        authStrategy: createAppAuth,
        auth: { appId: credentials.appId, privateKey: credentials.privateKey },
        retry: { retryAfterBaseValue: credentials.retryBaseMs ?? 1000 },
        throttle: { enabled: false },
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      })
      const found = await appClient.request('GET /repos/{owner}/{repo}/installation', {
        owner,
        repo,
        request: { signal },
      })
      const id = (found.data as { id: number }).id
      installations.set(key, id)
      return id
    },
    async cloneToken(installationId, repository) {
      const name = repository.includes('/') ? repository.slice(repository.indexOf('/') + 1) : repository
      const auth = (await installation(installationId).auth({
        type: 'installation',
        installationId,
        repositoryNames: [name],
        permissions: { contents: 'read' },
      })) as { token: string }
      return auth.token
    },
  }
}
