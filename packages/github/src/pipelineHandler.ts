import { isOpsError, type OpsClient } from '@ops-control-room/core'
import { type AnyHandler, defineHandler, HandlerError } from '@ops-control-room/worker'
import { CommitTarget, PIPELINE_KIND, STEP_KIND } from './commitTarget'
import type { GithubApp, GithubOctokit } from './githubApp'
import { defaultPipeline, MAX_PIPELINE_BYTES, PIPELINE_PATH, type Pipeline, parsePipeline } from './pipeline'

/** Options of `createPipelineHandler`. */
export interface PipelineHandlerOptions {
  app: GithubApp
  /** Enqueues the steps (a client with the rights of service_role). */
  client: OpsClient
  /** Attempts of each step: a step whose worker died runs again while attempts remain. Default 2. */
  stepAttempts?: number
}

/** What a `github_pipeline` run returns. */
export interface PipelineResult {
  source: 'pipeline file' | 'package.json' | 'none'
  steps: { name: string; runId: string }[]
}

/**
 * The `github_pipeline` handler: reads `.ops/pipeline.yml` (or package.json's lint, test and build
 * scripts) at the exact commit through the API, validates it, and enqueues one `github_step` run per
 * step into the same session. An invalid file fails the run without retrying, with a message that
 * lists every problem; its check run shows that message.
 *
 * @example
 * worker.register(createPipelineHandler({ app, client }))
 */
export function createPipelineHandler(options: PipelineHandlerOptions): AnyHandler {
  return defineHandler({
    kind: PIPELINE_KIND,
    description: 'Reads the pipeline of a commit and enqueues its steps.',
    input: CommitTarget,
    async run(ctx): Promise<PipelineResult> {
      const t = ctx.params
      const [owner, repo] = t.repository.split('/') as [string, string]
      const octokit = options.app.installation(t.installationId)
      const file = await readFile(octokit, owner, repo, PIPELINE_PATH, t.sha)
      let pipeline: Pipeline | undefined
      let source: PipelineResult['source'] = 'pipeline file'
      try {
        if (file !== undefined) pipeline = parsePipeline(file)
        else {
          source = 'package.json'
          pipeline = defaultPipeline(await readFile(octokit, owner, repo, 'package.json', t.sha))
        }
      } catch (err) {
        if (isOpsError(err) && err.code === 'validation') {
          throw new HandlerError({ type: 'invalid_pipeline', message: err.message, retry: false, cause: err })
        }
        throw err
      }
      if (!pipeline) {
        ctx.log.info(`no ${PIPELINE_PATH} and no lint/test/build script in package.json: nothing to run`)
        return { source: 'none', steps: [] }
      }
      ctx.signal.throwIfAborted()
      const runs = await options.client.runs.enqueue({
        sessionId: ctx.run.sessionId,
        runs: pipeline.steps.map((step) => ({
          kind: STEP_KIND,
          lane: step.lane,
          timeoutSeconds: step.timeout,
          maxAttempts: options.stepAttempts ?? 2,
          params: {
            ...t,
            step: { name: step.name, command: step.command, env: step.env, install: pipeline.install },
          },
          // A retried pipeline run enqueues nothing twice.
          idempotencyKey: `github:${ctx.run.id}:${step.name}`,
        })),
      })
      // A supersede that landed while this run was planning cancelled only the runs that existed then:
      // cancel the steps just enqueued too, whether or not the cancel has reached this worker yet.
      const self = await options.client.runs.get(ctx.run.id)
      if (ctx.signal.aborted || self.cancelRequestedAt) {
        await options.client.runs.cancelMany({
          ids: runs.map((r) => r.id),
          reason: self.cancelReason ?? 'the pipeline run was cancelled',
        })
        // The cancel reaches the signal by NOTIFY or the next heartbeat: end as cancelled, not failed.
        if (!ctx.signal.aborted) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 30_000)
            const onAbort = () => {
              clearTimeout(timer)
              resolve()
            }
            ctx.signal.addEventListener('abort', onAbort, { once: true })
          })
        }
        ctx.signal.throwIfAborted()
        throw new HandlerError({ type: 'cancelled', message: 'cancelled while planning', retry: false })
      }
      const steps = pipeline.steps.map((step, i) => ({ name: step.name, runId: runs[i]?.id as string }))
      ctx.log.info(`enqueued ${steps.length} step(s) from ${source}: ${steps.map((s) => s.name).join(', ')}`)
      return { source, steps }
    },
  })
}

/** A file's text at a commit, or undefined when it does not exist. */
async function readFile(
  octokit: GithubOctokit,
  owner: string,
  repo: string,
  path: string,
  ref: string,
): Promise<string | undefined> {
  try {
    const res = await octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
      owner,
      repo,
      path,
      ref,
      headers: { accept: 'application/vnd.github.raw+json' },
    })
    const data = res.data as unknown
    const text =
      typeof data === 'string'
        ? data
        : data instanceof ArrayBuffer
          ? new TextDecoder().decode(data)
          : undefined
    if (text === undefined) {
      throw new HandlerError({ type: 'invalid_pipeline', message: `${path} is not a file`, retry: false })
    }
    if (text.length > MAX_PIPELINE_BYTES * 4) {
      throw new HandlerError({ type: 'invalid_pipeline', message: `${path} is too large`, retry: false })
    }
    return text
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined
    throw err
  }
}
