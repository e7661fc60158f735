import type { EmitterWebhookEvent } from '@octokit/webhooks'
import { Webhooks } from '@octokit/webhooks'
import {
  errorResponse,
  jsonResponse,
  PayloadTooLargeError,
  UnauthorizedError,
  ValidationError,
} from '@ops-control-room/core'
import type postgres from 'postgres'
import { CommitTarget, PIPELINE_KIND } from './commitTarget'

type PullRequestPayload = EmitterWebhookEvent<'pull_request'>['payload']
type PushPayload = EmitterWebhookEvent<'push'>['payload']
type CheckSuitePayload = EmitterWebhookEvent<'check_suite'>['payload']
type CheckRunPayload = EmitterWebhookEvent<'check_run'>['payload']
type ReviewPayload = EmitterWebhookEvent<'pull_request_review'>['payload']

/** Whether pull requests from forks run. They never receive the worker's environment variables. */
export type ForkPolicy =
  | { policy: 'never' }
  /** Runs the head commit when a maintainer adds this label (again for each new commit). */
  | { policy: 'label'; label: string }
  /** Runs the reviewed commit when an owner, member or collaborator approves the pull request. */
  | { policy: 'approval' }

/** Options of `createGithubWebhookHandler`. */
export interface GithubWebhookOptions {
  /** The database (a role that may write ops.*: the table owner or service_role). */
  sql: postgres.Sql
  /** The App's webhook secret. */
  secret: string
  /** Branches whose pushes run the pipeline. Default: the repository's default branch. */
  pushBranches?: readonly string[]
  /** Pull requests from forks. Default `{ policy: 'never' }`. */
  forks?: ForkPolicy
  /** Largest body accepted, in bytes. Default 5 MiB (GitHub caps payloads at 25 MB). */
  maxBodyBytes?: number
  /** Lane of the pipeline run (which reads the pipeline file and enqueues the steps). Default 'A'. */
  pipelineLane?: 'A' | 'B' | 'C' | 'D'
  /** Cancel the runs of older commits when a pull request gets a new one. Default true. */
  supersede?: boolean
  /** Logs unexpected errors. Default console.error. */
  onError?: (error: unknown) => void
}

/** A web-standard request handler. */
export type WebhookHandler = (request: Request) => Promise<Response>

/** What a delivery did, as answered to GitHub (and shown in the App's "Recent deliveries"). */
export type DeliveryOutcome =
  | 'enqueued'
  | 'rerun'
  | 'duplicate_delivery'
  | 'duplicate_commit'
  | 'ignored'
  | 'fork_skipped'
  | 'closed'

const ZERO_SHA = '0000000000000000000000000000000000000000'

interface Trigger {
  target: Omit<CommitTarget, 'deliveryId' | 'trigger'>
  /** Automatic triggers of one commit share a session; reruns get their own. */
  rerun: boolean
}

/**
 * Receives the GitHub App's webhooks: verifies `X-Hub-Signature-256` over the raw body before
 * parsing anything (401 and nothing written otherwise), then turns `pull_request`, `push`,
 * `check_suite` and `check_run` events into a session with a `github_pipeline` run, in one
 * transaction with the delivery's record — so a redelivery, or a second event for the same commit,
 * enqueues nothing. A new commit on a pull request cancels the queued and running runs of its older
 * commits. Events it does not act on get 202.
 *
 * @example
 * const handler = createGithubWebhookHandler({ sql, secret: process.env.GITHUB_WEBHOOK_SECRET! })
 * await createServer({ databaseUrl, jwtSecret, handlers: [{ path: '/github/webhooks', handler }] })
 */
export function createGithubWebhookHandler(options: GithubWebhookOptions): WebhookHandler {
  if (!options.sql || !options.secret) throw new TypeError('createGithubWebhookHandler needs { sql, secret }')
  const { sql } = options
  const webhooks = new Webhooks({ secret: options.secret })
  const maxBody = options.maxBodyBytes ?? 5 * 1024 * 1024
  const forks = options.forks ?? { policy: 'never' }
  const onError = options.onError ?? ((error: unknown) => console.error('[ops-github] webhook:', error))

  return async (request) => {
    try {
      if (request.method !== 'POST') {
        return jsonResponse({ error: { code: 'validation', message: 'POST only' } }, 405, { allow: 'POST' })
      }
      const signature = request.headers.get('x-hub-signature-256')
      if (!signature) throw new UnauthorizedError('missing X-Hub-Signature-256')
      const body = await readBody(request, maxBody)
      // Before anything looks at the body: an unsigned payload is never parsed.
      const valid = await webhooks.verify(body, signature).catch(() => false)
      if (!valid) throw new UnauthorizedError('X-Hub-Signature-256 does not match the body')

      const event = request.headers.get('x-github-event') ?? ''
      const deliveryId = request.headers.get('x-github-delivery') ?? ''
      if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(deliveryId)) {
        throw new ValidationError('missing or malformed X-GitHub-Delivery')
      }
      if (!/^[a-z_]{1,100}$/.test(event)) throw new ValidationError('missing or malformed X-GitHub-Event')
      let payload: { action?: string; repository?: { full_name?: string } }
      try {
        payload = JSON.parse(body)
      } catch {
        throw new ValidationError('the body is not JSON')
      }
      if (typeof payload !== 'object' || payload === null)
        throw new ValidationError('the body is not an object')
      const result = await route(event, deliveryId, payload)
      return jsonResponse(
        result,
        result.outcome === 'ignored' || result.outcome === 'fork_skipped' ? 202 : 200,
      )
    } catch (err) {
      if (
        !(
          err instanceof UnauthorizedError ||
          err instanceof ValidationError ||
          err instanceof PayloadTooLargeError
        )
      ) {
        onError(err)
      }
      return errorResponse(err)
    }
  }

  async function route(
    event: string,
    deliveryId: string,
    payload: { action?: string; repository?: { full_name?: string } },
  ): Promise<{ outcome: DeliveryOutcome; sessionId?: string; reason?: string }> {
    const action = payload.action ?? null
    const repository = payload.repository?.full_name ?? null
    const ignore = (reason: string, outcome: DeliveryOutcome = 'ignored') =>
      record(deliveryId, event, action, repository, outcome).then((dup) =>
        dup ? { outcome: 'duplicate_delivery' as const } : { outcome, reason },
      )

    if (event === 'check_run') {
      const p = payload as CheckRunPayload
      if (p.action !== 'rerequested') return ignore(`check_run ${p.action}`)
      return rerunStep(deliveryId, p)
    }
    if (event === 'pull_request' && payload.action === 'closed') {
      return closePullRequest(deliveryId, payload as PullRequestPayload)
    }
    const trigger = triggerOf(event, payload)
    if (typeof trigger === 'string') {
      return ignore(trigger, trigger.startsWith('fork') ? 'fork_skipped' : 'ignored')
    }
    return enqueuePipeline(
      deliveryId,
      event,
      action,
      { ...trigger.target, deliveryId, trigger: event },
      trigger.rerun,
    )
  }

  /** The commit an event asks to check, or why it asks for nothing. */
  function triggerOf(event: string, payload: unknown): Trigger | string {
    switch (event) {
      case 'pull_request': {
        const p = payload as PullRequestPayload
        const pr = p.pull_request
        const fork = isFork(pr)
        const base = commitOf(p, pr.head.sha, `refs/heads/${pr.head.ref}`, pr.number, fork)
        if (typeof base === 'string') return base
        if (p.action === 'labeled') {
          if (fork && forks.policy === 'label' && p.label?.name === forks.label)
            return { target: base, rerun: true }
          return 'pull_request labeled: not the fork label'
        }
        if (!['opened', 'synchronize', 'reopened'].includes(p.action)) return `pull_request ${p.action}`
        if (fork) return `fork pull request (policy ${forks.policy})`
        return { target: base, rerun: false }
      }
      case 'pull_request_review': {
        const p = payload as ReviewPayload
        if (forks.policy !== 'approval' || p.action !== 'submitted') return `pull_request_review ${p.action}`
        const pr = p.pull_request
        if (!isFork(pr)) return 'review of a pull request that is not from a fork'
        const trusted = ['OWNER', 'MEMBER', 'COLLABORATOR'].includes(p.review.author_association)
        if (p.review.state !== 'approved' || !trusted)
          return 'fork pull request: not an approval by a maintainer'
        const sha = p.review.commit_id ?? pr.head.sha
        const base = commitOf(p, sha, `refs/heads/${pr.head.ref}`, pr.number, true)
        return typeof base === 'string' ? base : { target: base, rerun: true }
      }
      case 'push': {
        const p = payload as PushPayload
        if (p.deleted || p.after === ZERO_SHA) return 'push deleted a branch'
        const branch = p.ref.startsWith('refs/heads/') ? p.ref.slice('refs/heads/'.length) : undefined
        const branches = options.pushBranches ?? [
          p.repository.default_branch ?? p.repository.master_branch ?? 'main',
        ]
        if (!branch || !branches.includes(branch)) return `push to ${p.ref}: not a configured branch`
        const base = commitOf(p, p.after, p.ref, undefined, false)
        return typeof base === 'string' ? base : { target: base, rerun: false }
      }
      case 'check_suite': {
        const p = payload as CheckSuitePayload
        const suite = p.check_suite
        if (p.action !== 'requested' && p.action !== 'rerequested') return `check_suite ${p.action}`
        const pr = suite.pull_requests[0]
        const branch = suite.head_branch ?? ''
        const branches = options.pushBranches ?? [p.repository.default_branch]
        if (p.action === 'requested' && !pr && !branches.includes(branch)) {
          return `check_suite for ${branch}: not a configured branch nor a pull request`
        }
        // A suite's pull_requests lists only pull requests whose head is in this repository.
        const base = commitOf(
          p,
          suite.head_sha,
          branch ? `refs/heads/${branch}` : undefined,
          pr?.number,
          false,
        )
        return typeof base === 'string' ? base : { target: base, rerun: p.action === 'rerequested' }
      }
      default:
        return `event ${event} is not handled`
    }
  }

  async function enqueuePipeline(
    deliveryId: string,
    event: string,
    action: string | null,
    target: CommitTarget,
    rerun: boolean,
  ) {
    const key = rerun
      ? `${target.repository}@${target.sha}#${deliveryId}`
      : `${target.repository}@${target.sha}`
    const shortSha = target.sha.slice(0, 7)
    const name = `${target.repository}${target.prNumber ? ` #${target.prNumber}` : ''} · ${shortSha} (${event}${action ? ` ${action}` : ''})`
    return sql.begin(async (tx) => {
      const [delivered] = await tx`
        insert into ops.github_deliveries (delivery_id, event, action, repository, outcome)
        values (${deliveryId}, ${event}, ${action}, ${target.repository}, 'enqueued')
        on conflict (delivery_id) do nothing
        returning delivery_id`
      if (!delivered) return { outcome: 'duplicate_delivery' as const }

      // Two deliveries of one commit at once: the second waits here, then finds the first's session.
      await tx`select pg_advisory_xact_lock(hashtextextended(${`ops-github:${key}`}, 0))`
      const superseded = await supersede(tx, target)
      const [existing] = await tx`
        update ops.github_sessions set pr_number = coalesce(pr_number, ${target.prNumber ?? null})
        where key = ${key} returning session_id`
      if (existing) {
        await tx`update ops.github_deliveries set outcome = 'duplicate_commit', session_id = ${existing.session_id}
          where delivery_id = ${deliveryId}`
        return { outcome: 'duplicate_commit' as const, sessionId: existing.session_id as string, superseded }
      }
      const metadata = {
        github: {
          repository: target.repository,
          sha: target.sha,
          ref: target.ref ?? null,
          pr: target.prNumber ?? null,
          fork: target.fork,
          delivery: deliveryId,
          trigger: event,
          url: target.prNumber
            ? `https://github.com/${target.repository}/pull/${target.prNumber}`
            : `https://github.com/${target.repository}/commit/${target.sha}`,
        },
      }
      const [session] = await tx`
        select id from ops.create_session(${name}, ${null}, ${tx.json(metadata)}::jsonb)`
      const sessionId = (session as { id: string }).id
      await tx`
        insert into ops.github_sessions (key, session_id, repository, head_sha, pr_number)
        values (${key}, ${sessionId}, ${target.repository}, ${target.sha}, ${target.prNumber ?? null})`
      const spec = {
        kind: PIPELINE_KIND,
        lane: options.pipelineLane ?? 'A',
        params: stripUndefined(target),
        max_attempts: 3,
        timeout_seconds: 120,
        idempotency_key: `github:${key}`,
      }
      await tx`select id from ops.enqueue_runs(${sessionId}, ${tx.json([spec])}::jsonb)`
      await tx`update ops.github_deliveries set session_id = ${sessionId} where delivery_id = ${deliveryId}`
      return { outcome: rerun ? ('rerun' as const) : ('enqueued' as const), sessionId, superseded }
    })
  }

  /** A closed (or merged) pull request: its queued and running runs are cancelled. */
  async function closePullRequest(deliveryId: string, p: PullRequestPayload) {
    const repository = p.repository.full_name
    return sql.begin(async (tx) => {
      const [delivered] = await tx`
        insert into ops.github_deliveries (delivery_id, event, action, repository, outcome)
        values (${deliveryId}, 'pull_request', 'closed', ${repository}, 'closed')
        on conflict (delivery_id) do nothing returning delivery_id`
      if (!delivered) return { outcome: 'duplicate_delivery' as const }
      const rows = await tx`
        select count(*)::int as n from ops.request_cancel(array(
          select r.id from ops.github_sessions g join ops.runs r on r.session_id = g.session_id
          where g.repository = ${repository} and g.pr_number = ${p.pull_request.number}
            and r.status in ('queued', 'running')
        ), ${`pull request #${p.pull_request.number} closed`})`
      return { outcome: 'closed' as const, cancelled: (rows[0] as { n: number }).n }
    })
  }

  /** Cancels the queued and running runs of the pull request's other commits. */
  async function supersede(tx: postgres.TransactionSql, target: CommitTarget): Promise<number> {
    if (options.supersede === false || !target.prNumber) return 0
    const rows = await tx`
      select count(*)::int as n from ops.request_cancel(array(
        select r.id from ops.github_sessions g join ops.runs r on r.session_id = g.session_id
        where g.repository = ${target.repository} and g.pr_number = ${target.prNumber}
          and g.head_sha <> ${target.sha} and r.status in ('queued', 'running')
      ), ${`superseded by ${target.sha.slice(0, 7)}`})`
    return (rows[0] as { n: number }).n
  }

  /** check_run rerequested: the step of that check run runs again, as a new run of its session. */
  async function rerunStep(deliveryId: string, p: CheckRunPayload) {
    const repository = p.repository.full_name
    return sql.begin(async (tx) => {
      const [delivered] = await tx`
        insert into ops.github_deliveries (delivery_id, event, action, repository, outcome)
        values (${deliveryId}, 'check_run', ${p.action}, ${repository}, 'rerun')
        on conflict (delivery_id) do nothing returning delivery_id`
      if (!delivered) return { outcome: 'duplicate_delivery' as const }
      const [run] = await tx`
        select r.* from ops.github_check_runs c join ops.runs r on r.id = c.run_id
        where c.check_run_id = ${p.check_run.id} and r.params ->> 'repository' = ${repository}
          and (r.params ->> 'installationId')::bigint = ${p.installation?.id ?? 0}`
      if (!run) {
        await tx`update ops.github_deliveries set outcome = 'ignored' where delivery_id = ${deliveryId}`
        return { outcome: 'ignored' as const, reason: 'not a check run of this integration' }
      }
      const spec = {
        kind: run.kind,
        lane: run.lane,
        params: { ...run.params, deliveryId, trigger: 'check_run' },
        max_attempts: run.max_attempts,
        timeout_seconds: run.timeout_seconds,
        idempotency_key: `github:rerun:${deliveryId}`,
      }
      await tx`select id from ops.enqueue_runs(${run.session_id}, ${tx.json([spec])}::jsonb)`
      await tx`update ops.github_deliveries set session_id = ${run.session_id} where delivery_id = ${deliveryId}`
      return { outcome: 'rerun' as const, sessionId: run.session_id as string }
    })
  }

  /** Records a delivery that enqueues nothing; true when it was a redelivery. */
  async function record(
    deliveryId: string,
    event: string,
    action: string | null,
    repository: string | null,
    outcome: DeliveryOutcome,
  ): Promise<boolean> {
    const rows = await sql`
      insert into ops.github_deliveries (delivery_id, event, action, repository, outcome)
      values (${deliveryId}, ${event}, ${action}, ${repository}, ${outcome})
      on conflict (delivery_id) do nothing returning delivery_id`
    return rows.length === 0
  }
}

function isFork(pr: { head: { repo: { full_name: string } | null }; base: { repo: { full_name: string } } }) {
  // A deleted fork has no head repository: treat it as a fork.
  return !pr.head.repo || pr.head.repo.full_name !== pr.base.repo.full_name
}

function commitOf(
  payload: { installation?: { id: number } | null; repository: { full_name: string } },
  sha: string,
  ref: string | undefined,
  prNumber: number | undefined,
  fork: boolean,
): Trigger['target'] | string {
  const installationId = payload.installation?.id
  if (!installationId) return 'no installation in the payload (is this an App webhook?)'
  const target = { repository: payload.repository.full_name, installationId, sha, ref, prNumber, fork }
  const checked = CommitTarget.omit({ deliveryId: true, trigger: true }).safeParse(stripUndefined(target))
  if (!checked.success) {
    return `unexpected payload: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
  }
  return target
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/** Reads the body as text, refusing more than `limit` bytes without buffering them. */
async function readBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > limit) throw new PayloadTooLargeError(`the body is larger than ${limit} bytes`)
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw new PayloadTooLargeError(`the body is larger than ${limit} bytes`)
    }
    chunks.push(value)
  }
  const all = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    all.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(all)
}
