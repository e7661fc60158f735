/**
 * Types of `@ops-control-room/spec-kit-handler`.
 *
 * Glossary
 * - bundle: the four Spec Kit documents of one feature, `spec/<feature>/{constitution,prd,plan,tasks}.md`.
 * - feature: a path-safe slug naming the bundle's directory.
 * - generator: turns a run's inputs into the four documents (the default one renders markdown from
 *   the inputs; a custom one may call a language model).
 * - workspace: the run's own directory (`ctx.workspace`), holding a fresh clone of the target repository.
 * - remote: the repository the bundle is pushed to, configured on the worker, never taken from params.
 * - run trailer: `Ops-Run-Id: <run id>` in the commit message, how a retried run finds its own commit.
 */
import type { SecretReference } from '@ops-control-room/worker'
import type { SpecDocument } from './params'

/** What a generator is given. */
export interface SpecKitGeneratorInput {
  feature: string
  title: string
  summary: string
  /** Documents the enqueuer wrote; the generator must keep them as they are. */
  given: Partial<Record<SpecDocument, string>>
}

/** The four documents, as markdown. */
export type SpecKitDocuments = Record<SpecDocument, string>

/**
 * Turns the inputs into the four documents. Must honour `signal` (stop and reject with its reason)
 * and must return documents in `given` unchanged.
 */
export interface SpecKitGenerator {
  generate(
    input: SpecKitGeneratorInput,
    context: { signal: AbortSignal; runId?: string },
  ): Promise<SpecKitDocuments> | SpecKitDocuments
}

/** A git identity. */
export interface GitIdentity {
  name: string
  email: string
}

/** One repository the handler may write to. */
export interface SpecKitRepository {
  /** Clone URL or path: `/srv/specs.git`, `https://github.com/acme/specs.git`, `git@github.com:acme/specs.git`. */
  url: string
  /**
   * The commit page of the repository's web UI, with `{sha}` in it
   * (`https://github.com/acme/specs/commit/{sha}`); shown and linked in the Runboard.
   */
  commitUrl?: string
  /** HTTPS token; a `{ "$secret": "NAME" }` reference is resolved by `ctx.secrets` at run time. */
  token?: string | SecretReference
  /** The user name sent with the token. Default `x-access-token` (GitHub's convention). */
  username?: string
}

/** Opens a pull request; the GitHub integration (or your own code) provides one. */
export type OpenPullRequest = (input: {
  repo: string
  remoteUrl: string
  branch: string
  baseBranch: string | undefined
  title: string
  body: string
  signal: AbortSignal
}) => Promise<{ url: string; number?: number }>

/** Options of `specKitHandler`. */
export interface SpecKitHandlerOptions {
  /** The default repository: a URL/path, or its full description. */
  repo: string | SpecKitRepository
  /** More repositories a run may pick by name (`params.repo`). The default is named `default`. */
  repos?: Readonly<Record<string, string | SpecKitRepository>>
  /** Author (and, unless `committer` is given, committer) of every commit. */
  author: GitIdentity
  committer?: GitIdentity
  /** Renders documents the enqueuer did not write. Default `defaultGenerator`. */
  generator?: SpecKitGenerator
  git?: {
    /** The git executable. Default `git` on PATH. */
    binary?: string
    /** After SIGTERM to a git process group on cancel, wait this long before SIGKILL. Default 2000. */
    killGraceMs?: number
    /** Extra environment for git (e.g. `GIT_SSH_COMMAND`). Never logged. */
    env?: Readonly<Record<string, string>>
  }
  /** Opens pull requests when a run asks for one. Without it, such a run fails with `not_configured`. */
  openPullRequest?: OpenPullRequest
  /** The kind to register. Default `spec_kit_generate`. */
  kind?: string
}

/** One file of the bundle in a run's result. */
export interface SpecKitFileResult {
  /** Repository-relative path, `spec/<feature>/<name>.md`. */
  path: string
  sha256: string
  size: number
  /** The artifact holding the file's content. */
  artifactId: string
}

/** What a `spec_kit_generate` run returns. */
export interface SpecKitResult {
  feature: string
  /** The commit holding the bundle (the branch's tip if nothing changed). */
  sha: string
  branch: string
  /** The repository's name in the worker configuration. */
  repo: string
  /** The remote, without any credentials. */
  remote: string
  /** False when the branch already held identical files (no empty commit was made). */
  committed: boolean
  /** True when this attempt found the commit a previous attempt of the same run made. */
  reused: boolean
  pushed: boolean
  /** The commit's web page, when the repository has a `commitUrl`. */
  commitUrl?: string
  files: SpecKitFileResult[]
  pullRequestUrl?: string
}
