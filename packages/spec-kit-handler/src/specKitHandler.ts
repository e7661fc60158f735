import { createHash } from 'node:crypto'
import { join } from 'node:path'
import {
  defineHandler,
  type HandlerContext,
  type HandlerDefinition,
  HandlerError,
} from '@ops-control-room/worker'
import { defaultGenerator } from './defaultGenerator'
import { SPEC_DOCUMENTS, type SpecDocument, SpecKitParams } from './params'
import { type RunGitOptions, redactText, runGit } from './runGit'
import type {
  GitIdentity,
  SpecKitDocuments,
  SpecKitFileResult,
  SpecKitHandlerOptions,
  SpecKitRepository,
  SpecKitResult,
} from './types'
import { writeBundle } from './writeBundle'

/** The kind this handler registers by default. */
export const SPEC_KIT_KIND = 'spec_kit_generate'

const MAX_GENERATED = 1 << 20

/** The URL without user info (a password or token in a URL must never reach a result or log). */
export function publicRemote(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1')
}

/**
 * Fills options left out from the environment, for `ops-worker` (`OPS_HANDLERS=@ops-control-room/spec-kit-handler`):
 * `SPEC_KIT_REPO` (clone URL or path), `SPEC_KIT_COMMIT_URL` (with `{sha}`), `SPEC_KIT_TOKEN_SECRET`
 * (the name of the worker secret holding an HTTPS token), `SPEC_KIT_AUTHOR_NAME`, `SPEC_KIT_AUTHOR_EMAIL`.
 */
function withEnvironment(options: Partial<SpecKitHandlerOptions>, env: NodeJS.ProcessEnv | undefined) {
  if (!env) return options
  const out = { ...options }
  if (out.repo === undefined && env.SPEC_KIT_REPO) {
    out.repo = {
      url: env.SPEC_KIT_REPO,
      ...(env.SPEC_KIT_COMMIT_URL ? { commitUrl: env.SPEC_KIT_COMMIT_URL } : {}),
      ...(env.SPEC_KIT_TOKEN_SECRET ? { token: { $secret: env.SPEC_KIT_TOKEN_SECRET } } : {}),
    }
  }
  if (out.author === undefined && env.SPEC_KIT_AUTHOR_NAME && env.SPEC_KIT_AUTHOR_EMAIL) {
    out.author = { name: env.SPEC_KIT_AUTHOR_NAME, email: env.SPEC_KIT_AUTHOR_EMAIL }
  }
  return out
}

const normalise = (r: string | SpecKitRepository): SpecKitRepository =>
  typeof r === 'string' ? { url: r } : r

function checkIdentity(who: string, id: { name?: unknown; email?: unknown } | undefined) {
  if (
    !id ||
    typeof id.name !== 'string' ||
    !id.name.trim() ||
    typeof id.email !== 'string' ||
    !id.email.includes('@')
  ) {
    throw new TypeError(`specKitHandler needs ${who}: { name, email } (got ${JSON.stringify(id)})`)
  }
}

/** Trailer lines this handler owns; an enqueuer's message cannot forge them (or another run's). */
const OWN_TRAILER = /^\s*(ops-run-id|spec-kit-feature)\s*:.*$/gim

function commitMessage(p: SpecKitParams, runId: string): string {
  const fallback = `spec(${p.feature}): ${p.title.replace(/\s+/g, ' ')}`
  const subject = (p.commitMessage ?? fallback).replace(/\r/g, '').replace(OWN_TRAILER, '').trim() || fallback
  return `${subject}\n\nSpec Kit bundle spec/${p.feature}/ written by run ${runId}.\n\nSpec-Kit-Feature: ${p.feature}\nOps-Run-Id: ${runId}\n`
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/**
 * The `spec_kit_generate` handler: renders the four Spec Kit documents of a feature (keeping those
 * the enqueuer wrote, the pluggable `generator` rendering the rest), writes them to
 * `spec/<feature>/` in a fresh clone of the configured repository inside the run's workspace, commits
 * them with real git as `author`, pushes the branch when asked, uploads the four files as artifacts,
 * and returns the commit, branch, remote, paths and sha256s.
 *
 * Guarantees: a retried run finds the commit an earlier attempt pushed (by its `Ops-Run-Id` trailer)
 * and does not commit again, and an attempt that crashed before its push makes the same commit again
 * (dates come from the run, so the sha is identical); identical content makes no commit; a cancel
 * kills git's whole process group and pushes nothing; the slug cannot address anything outside
 * `spec/<feature>/`; credentials come from the worker's configuration (`token`, or a `{ "$secret" }`
 * reference resolved by `ctx.secrets`) and are scrubbed from every error.
 *
 * @example
 * import { createWorker } from '@ops-control-room/worker'
 * import { specKitHandler } from '@ops-control-room/spec-kit-handler'
 *
 * export const handler = specKitHandler({
 *   repo: { url: 'https://github.com/acme/specs.git', token: { $secret: 'GITHUB_TOKEN' } },
 *   author: { name: 'Spec Kit Bot', email: 'spec-kit@acme.dev' },
 * })
 * // createWorker({ client, handlers: [handler] })
 */
export function specKitHandler(
  options: Partial<SpecKitHandlerOptions> = {},
  context: { env?: NodeJS.ProcessEnv } = {},
): HandlerDefinition<typeof SpecKitParams, SpecKitResult> {
  options = withEnvironment(options, context.env)
  if (!options || (typeof options.repo !== 'string' && typeof options.repo?.url !== 'string')) {
    throw new TypeError(
      'specKitHandler needs repo: a clone URL or path (or { url, token, commitUrl }), or SPEC_KIT_REPO in the environment',
    )
  }
  checkIdentity('author', options.author)
  if (options.committer) checkIdentity('committer', options.committer)
  const repos = new Map<string, SpecKitRepository>([
    ['default', normalise(options.repo as SpecKitRepository)],
  ])
  for (const [name, r] of Object.entries(options.repos ?? {})) repos.set(name, normalise(r))
  const generator = options.generator ?? defaultGenerator
  const author = options.author as GitIdentity
  const committer = (options.committer ?? options.author) as GitIdentity
  const binary = options.git?.binary ?? 'git'
  const killGraceMs = options.git?.killGraceMs ?? 2000

  return defineHandler({
    kind: options.kind ?? SPEC_KIT_KIND,
    description:
      'Writes the four Spec Kit documents of a feature to spec/<feature>/, commits them with git, pushes.',
    input: SpecKitParams,
    async run(ctx: HandlerContext<SpecKitParams>): Promise<SpecKitResult> {
      const p = ctx.params
      const runId = ctx.run.id
      const repoName = p.repo ?? 'default'
      const repo = repos.get(repoName)
      if (!repo) {
        throw new HandlerError({
          type: 'not_found',
          message: `this worker has no repository named ${repoName} (it has ${[...repos.keys()].join(', ')})`,
          retry: false,
        })
      }
      if (p.openPullRequest && !options.openPullRequest) {
        throw new HandlerError({
          type: 'not_configured',
          message:
            'openPullRequest needs the handler option openPullRequest (e.g. from @ops-control-room/github)',
          retry: false,
        })
      }
      if (p.openPullRequest && !p.push) {
        throw new HandlerError({
          type: 'validation',
          message: 'openPullRequest needs push: true',
          retry: false,
        })
      }
      const branch = p.branch ?? `spec-kit/${p.feature}`
      const token = repo.token === undefined ? undefined : ctx.secrets.resolve(repo.token)

      // Every secret that could show up in git's output, scrubbed from errors.
      const redact: string[] = []
      const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(repo.url)?.[1]
      if (userinfo) redact.push(userinfo, ...userinfo.split(':').slice(1))
      // Dates from the run make a re-made commit byte-identical, so a retry cannot fork the branch.
      const date = `@${Math.floor(new Date(ctx.run.createdAt).getTime() / 1000)} +0000`
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        // A home of the run's own: no user config, credential helper or hooks path leaks in.
        HOME: ctx.workspace,
        XDG_CONFIG_HOME: ctx.workspace,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_TERMINAL_PROMPT: '0',
        LANG: 'C',
        LC_ALL: 'C',
        GIT_AUTHOR_NAME: author.name,
        GIT_AUTHOR_EMAIL: author.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: committer.name,
        GIT_COMMITTER_EMAIL: committer.email,
        GIT_COMMITTER_DATE: date,
        ...options.git?.env,
      }
      if (token) {
        const basic = Buffer.from(`${repo.username ?? 'x-access-token'}:${token}`).toString('base64')
        redact.push(token, basic)
        // In the environment, not argv: invisible to `ps`, never written to .git/config.
        Object.assign(env, {
          GIT_CONFIG_COUNT: '1',
          GIT_CONFIG_KEY_0: 'http.extraHeader',
          GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
        })
      }
      const checkout = join(ctx.workspace, 'repo')
      const gitIn = (cwd: string): RunGitOptions => ({
        binary,
        cwd,
        env,
        signal: ctx.signal,
        killGraceMs,
        redact,
      })
      const git = (args: string[], allowFail = false, input?: string) =>
        runGit(args, { ...gitIn(checkout), ...(input === undefined ? {} : { input }) }, allowFail)
      const remote = publicRemote(repo.url)

      ctx.progress(0.05, 'cloning')
      ctx.log.event('spec-kit:clone', `cloning ${remote}`, { data: { remote, branch } })
      await runGit(
        ['clone', '--quiet', '--no-tags', '--origin', 'origin', '--', repo.url, checkout],
        gitIn(ctx.workspace),
      )
      await git(['config', 'core.hooksPath', '/dev/null'])

      const exists = async (ref: string) =>
        (await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], true)).code === 0
      const onRemote = await exists(`refs/remotes/origin/${branch}`)
      let reusedSha: string | undefined
      if (onRemote) {
        await git(['checkout', '--quiet', '-B', branch, `refs/remotes/origin/${branch}`])
        // An earlier attempt of this run that pushed before it crashed: its commit is on the branch.
        const found = await git([
          'log',
          '--format=%H',
          // A whole trailer line; run ids are UUIDs, so the pattern holds no regex metacharacters.
          `--grep=^Ops-Run-Id: ${runId}$`,
          '--max-count=1',
          'HEAD',
        ])
        reusedSha = found.stdout.trim() || undefined
      } else if (p.baseBranch) {
        if (!(await exists(`refs/remotes/origin/${p.baseBranch}`))) {
          throw new HandlerError({
            type: 'not_found',
            message: `the remote has no branch ${p.baseBranch} to start ${branch} from`,
            retry: false,
          })
        }
        await git(['checkout', '--quiet', '-B', branch, `refs/remotes/origin/${p.baseBranch}`])
      } else if (await exists('refs/remotes/origin/HEAD')) {
        await git(['checkout', '--quiet', '-B', branch, 'refs/remotes/origin/HEAD'])
      } else {
        // An empty remote: the branch starts the history.
        await git(['checkout', '--quiet', '--orphan', branch])
      }

      let docs: SpecKitDocuments
      let sha: string
      let committed = false
      if (reusedSha) {
        ctx.log.event('spec-kit:reused', `run ${runId} already committed ${reusedSha} on ${branch}`, {
          data: { sha: reusedSha },
        })
        sha = reusedSha
        docs = {} as SpecKitDocuments
        for (const d of SPEC_DOCUMENTS)
          docs[d] = (await git(['show', `${sha}:spec/${p.feature}/${d}.md`])).stdout
      } else {
        ctx.progress(0.25, 'generating')
        const given: Partial<Record<SpecDocument, string>> = {}
        for (const d of SPEC_DOCUMENTS) if (p[d] !== undefined) given[d] = p[d]
        docs = await generator.generate(
          { feature: p.feature, title: p.title, summary: p.summary, given },
          { signal: ctx.signal, runId },
        )
        ctx.signal.throwIfAborted()
        for (const d of SPEC_DOCUMENTS) {
          const text = docs?.[d]
          if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_GENERATED) {
            throw new HandlerError({
              type: 'generator',
              message: `the generator returned no usable ${d} (a non-empty string of at most 1 MiB)`,
              retry: false,
            })
          }
        }
        ctx.progress(0.5, 'writing')
        const removed = await writeBundle(checkout, p.feature, docs)
        if (removed.length > 0) {
          ctx.log.event(
            'spec-kit:removed',
            `removed ${removed.length} extra file(s) from spec/${p.feature}/`,
            {
              level: 'warn',
              data: { removed },
            },
          )
        }
        await git(['add', '--all', '--', `:(literal)spec/${p.feature}`])
        const changed = (await git(['diff', '--cached', '--quiet'], true)).code !== 0
        if (changed) {
          ctx.progress(0.6, 'committing')
          await git(['commit', '--quiet', '--no-verify', '--file=-'], false, commitMessage(p, runId))
          committed = true
        } else {
          ctx.log.event(
            'spec-kit:unchanged',
            `spec/${p.feature}/ on ${branch} already holds these files; no commit`,
          )
        }
        sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
      }

      let pushed = false
      if (p.push) {
        const upToDate =
          onRemote && (await git(['rev-parse', `refs/remotes/origin/${branch}`])).stdout.trim() === sha
        if (!upToDate) {
          ctx.progress(0.75, 'pushing')
          // Fast-forward only: a branch someone else moved meanwhile fails the attempt (and a retry
          // starts again from the new tip) rather than losing their commit.
          await git(['push', '--quiet', '--atomic', '--no-verify', 'origin', `${sha}:refs/heads/${branch}`])
        }
        pushed = true
        ctx.log.event('spec-kit:pushed', `${branch} at ${sha.slice(0, 12)} is on ${remote}`, {
          data: { sha, branch },
        })
      }

      ctx.progress(0.9, 'uploading artifacts')
      // What an earlier attempt of this run already stored for this commit is not stored again.
      const earlier = await ctx.artifacts.list()
      const files: SpecKitFileResult[] = []
      for (const d of SPEC_DOCUMENTS) {
        const text = docs[d]
        const path = `spec/${p.feature}/${d}.md`
        const hash = sha256(text)
        const kept = earlier.findLast(
          (a) => a.kind === 'file' && a.name === `${d}.md` && a.sha256 === hash && a.metadata.commit === sha,
        )
        const a = kept
          ? { id: kept.id, size: kept.size ?? Buffer.byteLength(text) }
          : await ctx.artifacts.put({
              name: `${d}.md`,
              body: text,
              contentType: 'text/markdown; charset=utf-8',
              metadata: { path, commit: sha },
            })
        files.push({ path, sha256: hash, size: a.size, artifactId: a.id })
      }
      const link = async (name: string, url: string) => {
        if (!earlier.some((a) => a.kind === 'link' && a.name === name && a.url === url)) {
          await ctx.artifacts.link({ name, url })
        }
      }

      const commitUrl = repo.commitUrl?.replace('{sha}', sha)
      let pullRequestUrl: string | undefined
      if (p.openPullRequest && options.openPullRequest) {
        const pr = await options.openPullRequest({
          repo: repoName,
          remoteUrl: remote,
          branch,
          baseBranch: p.baseBranch,
          title: p.commitMessage?.split('\n')[0] ?? `spec(${p.feature}): ${p.title}`,
          body: `${p.summary}\n\nSpec Kit bundle \`spec/${p.feature}/\` from run ${runId}.`,
          signal: ctx.signal,
        })
        pullRequestUrl = pr.url
        await link('pull request', pr.url)
      }
      if (commitUrl) await link('commit', commitUrl)
      ctx.progress(1, 'done')
      return {
        feature: p.feature,
        sha,
        branch,
        repo: repoName,
        remote: redactText(remote, redact),
        committed,
        reused: reusedSha !== undefined,
        pushed,
        ...(commitUrl ? { commitUrl } : {}),
        files,
        ...(pullRequestUrl ? { pullRequestUrl } : {}),
      }
    },
  })
}
