import type postgres from 'postgres'
import { PIPELINE_KIND } from './commitTarget'
import type { GithubApp, GithubOctokit } from './githubApp'

/** How results reach GitHub. */
export type ReportMode = 'checks' | 'statuses' | 'auto'

/** Options of `createCheckReporter`. */
export interface CheckReporterOptions {
  /** The database (a role that may read ops.runs and write the github tables). */
  sql: postgres.Sql
  app: GithubApp
  /**
   * `checks` (check runs), `statuses` (commit statuses) or `auto` (default): check runs, and
   * commit statuses for installations that did not grant the checks permission.
   */
  mode?: ReportMode
  /** The Runboard's URL: each check run links to its run there (`details_url`). */
  runboardUrl?: string
  /** Or a URL of your own for a run. */
  detailsUrl?: (run: { id: string; sessionId: string }) => string | undefined
  /** Polls this often when no notification arrives. Default 2000. */
  pollIntervalMs?: number
  /** Outbox rows taken per round. Default 20. */
  batchSize?: number
  /** A report that failed this many times is given up (its last error stays in the outbox). Default 15. */
  maxAttempts?: number
  /** Longest wait between two attempts, in seconds. Default 600. */
  maxBackoffSeconds?: number
  /** Delivered outbox rows and recorded deliveries are kept this many days. Default 30. */
  retainDays?: number
  /** How often `start()` purges what is past `retainDays`. Default one hour; 0 turns it off. */
  purgeIntervalMs?: number
  /** Logs failures of delivery. Default console.error. */
  onError?: (error: unknown, runId?: string) => void
}

/** Delivers the outbox to GitHub. */
export interface CheckReporter {
  /** Delivers what is due now; resolves with the number of runs reported. */
  deliverPending(): Promise<number>
  /** Deletes delivered outbox rows and delivery records older than `retainDays`. */
  purge(): Promise<{ outbox: number; deliveries: number }>
  /** Delivers continuously (on NOTIFY, and by polling) until `stop()`. */
  start(): Promise<void>
  stop(): Promise<void>
}

/** GitHub's limit of each of a check run's output `summary` and `text`. */
const MAX_OUTPUT = 65_535
const TAIL_LINES = 60
const LEASE_SECONDS = 120

interface RunRow {
  id: string
  session_id: string
  kind: string
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
  params: {
    repository: string
    installationId: number
    sha: string
    step?: { name: string; command: string }
  }
  attempt: number
  max_attempts: number
  started_at: Date | null
  claimed_at: Date | null
  finished_at: Date | null
  cancel_reason: string | null
  error: { type: string; message: string; context?: Record<string, unknown> } | null
  result: unknown
  timeout_seconds: number | null
}

/**
 * Reports runs to GitHub from the outbox that a trigger on `ops.runs` fills in the same transaction
 * as each transition: a check run created `queued`, moved to `in_progress` when claimed, and
 * `completed` (success, failure, cancelled or timed_out) with a summary and the tail of the log —
 * also for runs that ended without their handler (cancelled while queued, recovered after a crash,
 * failed on their last attempt). Each run is reported by one deliverer at a time (a row lock), with
 * its latest state only, and a state already reported is not reported again. Failures are retried
 * with exponential backoff, waiting at least as long as GitHub's `retry-after` or
 * `x-ratelimit-reset` asks.
 *
 * @example
 * const reporter = createCheckReporter({ sql, app, runboardUrl: 'https://ops.example.com' })
 * await reporter.start()
 */
export function createCheckReporter(options: CheckReporterOptions): CheckReporter {
  const { sql, app } = options
  const mode = options.mode ?? 'auto'
  const batchSize = options.batchSize ?? 20
  const maxAttempts = options.maxAttempts ?? 15
  const maxBackoff = options.maxBackoffSeconds ?? 600
  const onError = options.onError ?? ((error: unknown) => console.error('[ops-github] report:', error))
  const detailsUrl =
    options.detailsUrl ??
    (options.runboardUrl
      ? (run: { id: string; sessionId: string }) =>
          `${options.runboardUrl?.replace(/\/+$/, '')}/#session=${run.sessionId}&run=${run.id}`
      : () => undefined)
  // Installations found without the checks permission report through commit statuses.
  const statusesOnly = new Set<number>()

  async function deliverPending(): Promise<number> {
    const leased = await sql<{ run_id: string; upto: string; attempts: number }[]>`
      with picked as (
        select id from ops.github_outbox
        where delivered_at is null and available_at <= now()
        order by id limit ${batchSize} for update skip locked
      ), leased as (
        update ops.github_outbox o set available_at = now() + make_interval(secs => ${LEASE_SECONDS}),
          attempts = o.attempts + 1
        from picked where o.id = picked.id
        returning o.id, o.run_id, o.attempts
      )
      select run_id, max(id)::text as upto, max(attempts)::int as attempts from leased group by run_id`
    let delivered = 0
    for (const row of leased) {
      try {
        await deliverRun(row.run_id, row.upto)
        delivered++
      } catch (err) {
        onError(err, row.run_id)
        const wait = backoffSeconds(err, row.attempts, maxBackoff)
        const giveUp = row.attempts >= maxAttempts
        await sql`
          update ops.github_outbox set
            available_at = now() + make_interval(secs => ${wait}),
            delivered_at = ${giveUp ? sql`now()` : null},
            last_error = ${`${giveUp ? 'gave up: ' : ''}${describe(err)}`.slice(0, 2000)}
          where run_id = ${row.run_id} and id <= ${row.upto} and delivered_at is null`
      }
    }
    return delivered
  }

  async function deliverRun(runId: string, upto: string) {
    // Committed on its own, before anything is sent: a later attempt that finds this row without a
    // check run id knows an earlier one may have created the check run and died before recording it.
    const first = await sql`
      insert into ops.github_check_runs (run_id) values (${runId}) on conflict do nothing returning run_id`
    await sql.begin(async (tx) => {
      // One deliverer per run at a time: a create is never raced by an update.
      const [check] = await tx<{ check_run_id: string | null; reported_status: string | null }[]>`
        select check_run_id::text, reported_status from ops.github_check_runs where run_id = ${runId} for update`
      const [run] = await tx<RunRow[]>`select * from ops.runs where id = ${runId}`
      if (run && run.status !== check?.reported_status) {
        const checkRunId = await report(tx, run, check?.check_run_id ?? null, first.length === 0)
        await tx`
          update ops.github_check_runs set check_run_id = ${checkRunId}, reported_status = ${run.status},
            updated_at = now()
          where run_id = ${runId}`
      }
      await tx`
        update ops.github_outbox set delivered_at = now(), last_error = null
        where run_id = ${runId} and id <= ${upto} and delivered_at is null`
    })
  }

  /** Sends the run's current state; returns its check run id (null for commit statuses). */
  async function report(
    tx: postgres.TransactionSql,
    run: RunRow,
    knownCheckRunId: string | null,
    retrying: boolean,
  ): Promise<string | null> {
    let checkRunId = knownCheckRunId
    const { repository, installationId, sha } = run.params
    const [owner, repo] = repository.split('/') as [string, string]
    const octokit = app.installation(installationId)
    const name = run.kind === PIPELINE_KIND ? 'pipeline' : (run.params.step?.name ?? run.kind)
    const url = detailsUrl({ id: run.id, sessionId: run.session_id })
    if (mode === 'statuses' || (mode === 'auto' && statusesOnly.has(installationId) && !checkRunId)) {
      await postStatus(octokit, owner, repo, sha, name, run, url)
      return null
    }
    const output = await outputOf(tx, run)
    const terminal = run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled'
    const body = {
      owner,
      repo,
      name,
      head_sha: sha,
      external_id: run.id,
      ...(url ? { details_url: url } : {}),
      status: run.status === 'queued' ? 'queued' : run.status === 'running' ? 'in_progress' : 'completed',
      ...(run.started_at || run.claimed_at
        ? { started_at: (run.started_at ?? run.claimed_at)?.toISOString() }
        : {}),
      ...(terminal
        ? { conclusion: conclusionOf(run), completed_at: (run.finished_at ?? new Date()).toISOString() }
        : {}),
      output,
    } as const
    try {
      // An earlier attempt may have created the check run and died before recording its id: find it
      // by external_id rather than creating a second one.
      if (!checkRunId && retrying) checkRunId = await findCheckRun(octokit, owner, repo, sha, name, run.id)
      if (checkRunId) {
        await octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
          ...body,
          check_run_id: Number(checkRunId),
        } as never)
        return checkRunId
      }
      const res = await octokit.request('POST /repos/{owner}/{repo}/check-runs', body as never)
      return String((res.data as { id: number }).id)
    } catch (err) {
      if (mode === 'auto' && !checkRunId && isMissingPermission(err)) {
        statusesOnly.add(installationId)
        await postStatus(octokit, owner, repo, sha, name, run, url)
        return null
      }
      throw err
    }
  }

  async function purge() {
    const days = options.retainDays ?? 30
    const outbox = await sql`
      delete from ops.github_outbox
      where delivered_at is not null and delivered_at < now() - make_interval(days => ${days})`
    const deliveries = await sql`
      delete from ops.github_deliveries where received_at < now() - make_interval(days => ${days})`
    return { outbox: outbox.count, deliveries: deliveries.count }
  }

  let running = false
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined
  let unlisten: (() => Promise<void>) | undefined

  return {
    deliverPending,
    purge,
    async start() {
      if (running) return
      running = true
      const listener = await sql.listen('ops_github_outbox', () => wake?.())
      unlisten = () => listener.unlisten()
      const purgeEvery = options.purgeIntervalMs ?? 3_600_000
      let nextPurge = Date.now()
      loop = (async () => {
        while (running) {
          if (purgeEvery > 0 && Date.now() >= nextPurge) {
            nextPurge = Date.now() + purgeEvery
            await purge().catch((err) => onError(err))
          }
          let n = 0
          try {
            n = await deliverPending()
          } catch (err) {
            onError(err)
          }
          if (n > 0 || !running) continue
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.pollIntervalMs ?? 2000)
            wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
          wake = undefined
        }
      })()
    },
    async stop() {
      running = false
      wake?.()
      await loop
      await unlisten?.()
      loop = undefined
      unlisten = undefined
    },
  }
}

async function findCheckRun(
  octokit: GithubOctokit,
  owner: string,
  repo: string,
  sha: string,
  name: string,
  runId: string,
): Promise<string | null> {
  const res = await octokit.request('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', {
    owner,
    repo,
    ref: sha,
    check_name: name,
    filter: 'all',
    per_page: 100,
  })
  const found = res.data.check_runs.find((c) => c.external_id === runId)
  return found ? String(found.id) : null
}

async function postStatus(
  octokit: GithubOctokit,
  owner: string,
  repo: string,
  sha: string,
  name: string,
  run: RunRow,
  url: string | undefined,
) {
  const state =
    run.status === 'succeeded'
      ? 'success'
      : run.status === 'failed'
        ? 'failure'
        : run.status === 'cancelled'
          ? 'error'
          : 'pending'
  await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
    owner,
    repo,
    sha,
    state,
    context: `ops/${name}`,
    description: titleOf(run).slice(0, 140),
    ...(url ? { target_url: url } : {}),
  })
}

function conclusionOf(run: RunRow): 'success' | 'failure' | 'cancelled' | 'timed_out' {
  if (run.status === 'succeeded') return 'success'
  if (run.status === 'cancelled') return 'cancelled'
  return run.error?.type === 'timeout' ? 'timed_out' : 'failure'
}

function titleOf(run: RunRow): string {
  switch (run.status) {
    case 'queued':
      return run.attempt > 0 ? `queued again (attempt ${run.attempt + 1} of ${run.max_attempts})` : 'queued'
    case 'running':
      return `running (attempt ${run.attempt} of ${run.max_attempts})`
    case 'succeeded':
      return run.started_at && run.finished_at
        ? `passed in ${((run.finished_at.getTime() - run.started_at.getTime()) / 1000).toFixed(1)} s`
        : 'passed'
    case 'cancelled':
      return `cancelled${run.cancel_reason ? `: ${run.cancel_reason}` : ''}`
    case 'failed':
      if (run.error?.type === 'timeout') return `timed out after ${run.timeout_seconds} s`
      return `failed: ${run.error?.message.split('\n')[0] ?? 'unknown error'}`
  }
}

async function outputOf(tx: postgres.TransactionSql, run: RunRow) {
  const title = titleOf(run).slice(0, 1000)
  const parts: string[] = []
  if (run.kind === PIPELINE_KIND) {
    const result = run.result as { source?: string; steps?: { name: string }[] } | null
    if (run.status === 'failed' && run.error) parts.push(fence(run.error.message))
    else if (result?.steps) {
      parts.push(
        result.steps.length
          ? `Steps from ${result.source}: ${result.steps.map((s) => `\`${s.name}\``).join(', ')}`
          : 'No `.ops/pipeline.yml` and no lint, test or build script in package.json: nothing to run.',
      )
    } else parts.push('Reading the pipeline of this commit.')
  } else {
    if (run.params.step) parts.push(`\`${run.params.step.command.replace(/`/g, "'")}\``)
    if (run.status === 'failed' && run.error && run.error.type !== 'timeout') {
      parts.push(`**${run.error.type}**: ${run.error.message}`)
    }
    if (run.attempt > 1) parts.push(`Attempt ${run.attempt} of ${run.max_attempts}.`)
  }
  const summary = clip(parts.join('\n\n') || title, MAX_OUTPUT - 100)
  if (run.kind === PIPELINE_KIND || run.status === 'queued') return { title, summary }
  const rows = await tx<{ message: string }[]>`
    select message from ops.run_events
    where run_id = ${run.id} and type in ('step:stdout', 'step:stderr', 'step:ops')
    order by id desc limit ${TAIL_LINES}`
  if (rows.length === 0) return { title, summary }
  const tail = rows
    .map((r) => r.message)
    .reverse()
    .join('\n')
  return { title, summary, text: fence(clip(tail, MAX_OUTPUT - 200, true)) }
}

function fence(text: string): string {
  return `\`\`\`\n${text.replace(/```/g, "'''")}\n\`\`\``
}

function clip(text: string, max: number, keepEnd = false): string {
  if (text.length <= max) return text
  return keepEnd ? `…\n${text.slice(text.length - max + 2)}` : `${text.slice(0, max - 2)}\n…`
}

function isMissingPermission(err: unknown): boolean {
  const e = err as { status?: number; message?: string; response?: { headers?: Record<string, string> } }
  return (
    e.status === 403 &&
    e.response?.headers?.['x-ratelimit-remaining'] !== '0' &&
    /not accessible/i.test(e.message ?? '')
  )
}

/** Seconds until the next attempt: GitHub's ask when it made one, else exponential backoff. */
export function backoffSeconds(err: unknown, attempts: number, max: number): number {
  const headers =
    (err as { response?: { headers?: Record<string, string | undefined> } }).response?.headers ?? {}
  const retryAfter = Number(headers['retry-after'])
  const exponential = Math.min(max, 2 ** Math.min(attempts, 20))
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(max, Math.max(retryAfter, 1))
  if (headers['x-ratelimit-remaining'] === '0') {
    const reset = Number(headers['x-ratelimit-reset'])
    if (Number.isFinite(reset)) return Math.min(max, Math.max(1, Math.ceil(reset - Date.now() / 1000)))
  }
  return exponential
}

function describe(err: unknown): string {
  const e = err as { status?: number; message?: string }
  return e.status ? `HTTP ${e.status}: ${e.message}` : String(e?.message ?? err)
}
