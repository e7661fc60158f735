import type { GithubApp } from './githubApp'

/** What a handler asks of a pull request opener (the shape `specKitHandler({ openPullRequest })` takes). */
export interface PullRequestRequest {
  /** The handler's name for the repository (used when it is `owner/name`). */
  repo: string
  /** The git remote the branch was pushed to: `https://github.com/owner/name(.git)` or `git@github.com:owner/name.git`. */
  remoteUrl: string
  /** The pushed branch: the pull request's head. */
  branch: string
  /** The branch to merge into. Default: the repository's default branch. */
  baseBranch: string | undefined
  title: string
  body: string
  signal: AbortSignal
}

export interface OpenedPullRequest {
  url: string
  number: number
  /** False when an open pull request for the branch existed already (a retried run): it is returned. */
  created: boolean
}

export interface PullRequestOpenerOptions {
  app: GithubApp
  /**
   * The installation that may write pull requests to the repository. Default: asked of GitHub for
   * each repository (`GET /repos/{owner}/{repo}/installation`, with the App's JWT).
   */
  installationId?: number
  /**
   * `owner/name` of the repository on GitHub. Default: read from the remote URL, or the handler's
   * repository name when that is `owner/name`. Needed when the remote is a mirror.
   */
  repository?: string
}

/** A GitHub pull request could not be opened; `status` is GitHub's answer when there was one. */
export class PullRequestError extends Error {
  readonly code = 'pull_request_failed'
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'PullRequestError'
  }
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/

/** `owner/name` from a GitHub remote URL, or undefined when the URL is not GitHub's shape. */
export function githubRepositoryOf(remoteUrl: string): string | undefined {
  const m =
    /^(?:https?:\/\/|ssh:\/\/git@|git@)[^/:]+[/:]([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(remoteUrl.trim()) ??
    undefined
  if (!m) return undefined
  const [owner, name] = [m[1] as string, m[2] as string]
  return NAME.test(owner) && NAME.test(name) && !/^\.+$/.test(owner) && !/^\.+$/.test(name)
    ? `${owner}/${name}`
    : undefined
}

function splitRepository(repository: string): [string, string] {
  const [owner, name, extra] = repository.split('/')
  const valid = (part: string | undefined): part is string => !!part && NAME.test(part) && !/^\.+$/.test(part)
  if (!valid(owner) || !valid(name) || extra !== undefined) {
    throw new PullRequestError(`not a GitHub repository (owner/name): ${JSON.stringify(repository)}`)
  }
  return [owner, name]
}

const statusOf = (err: unknown) =>
  typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : undefined

/**
 * Opens pull requests as a GitHub App installation: for `specKitHandler({ openPullRequest })` or any
 * handler that pushes a branch. The token is narrowed to the one repository and `pull_requests: write`.
 * Idempotent: when an open pull request of the branch exists (a retried run), that one is returned.
 *
 * @example
 * const app = createGithubApp({ appId: process.env.GITHUB_APP_ID!, privateKey: process.env.GITHUB_PRIVATE_KEY! })
 * const openPullRequest = createPullRequestOpener({ app })
 */
export function createPullRequestOpener(
  options: PullRequestOpenerOptions,
): (request: PullRequestRequest) => Promise<OpenedPullRequest> {
  if (options.repository !== undefined) splitRepository(options.repository)
  return async (request) => {
    const repository =
      options.repository ??
      githubRepositoryOf(request.remoteUrl) ??
      (request.repo.includes('/') ? request.repo : undefined)
    if (!repository) {
      throw new PullRequestError(
        `cannot tell the GitHub repository of remote ${JSON.stringify(request.remoteUrl)}: pass { repository: 'owner/name' }`,
      )
    }
    const [owner, repo] = splitRepository(repository)
    const signal = request.signal
    try {
      const installationId = options.installationId ?? (await options.app.installationOf(owner, repo, signal))
      const octokit = await options.app.repositoryClient(installationId, repository, {
        pull_requests: 'write',
        metadata: 'read',
      })
      const base =
        request.baseBranch ??
        (
          (await octokit.request('GET /repos/{owner}/{repo}', { owner, repo, request: { signal } })).data as {
            default_branch: string
          }
        ).default_branch
      try {
        const created = await octokit.request('POST /repos/{owner}/{repo}/pulls', {
          owner,
          repo,
          head: request.branch,
          base,
          title: request.title.slice(0, 256),
          body: request.body.slice(0, 65_536),
          request: { signal },
        })
        const pr = created.data as { html_url: string; number: number }
        return { url: pr.html_url, number: pr.number, created: true }
      } catch (err) {
        // 422 is GitHub's answer to a second pull request of the same head and base.
        if (statusOf(err) !== 422) throw err
        const open = await octokit.request('GET /repos/{owner}/{repo}/pulls', {
          owner,
          repo,
          head: `${owner}:${request.branch}`,
          base,
          state: 'open',
          request: { signal },
        })
        const pr = (open.data as { html_url: string; number: number }[])[0]
        if (!pr) throw err
        return { url: pr.html_url, number: pr.number, created: false }
      }
    } catch (err) {
      if (err instanceof PullRequestError || signal.aborted) throw err
      const message = err instanceof Error ? err.message : String(err)
      throw new PullRequestError(
        `GitHub did not open the pull request for ${owner}/${repo}: ${message}`,
        statusOf(err),
      )
    }
  }
}
