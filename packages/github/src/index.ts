/**
 * @ops-control-room/github — a GitHub App for Ops Control Room: signed webhooks enqueue a session
 * of runs on the exact commit, workers run the pipeline's steps, and the results go back to GitHub
 * as check runs (or commit statuses).
 */

export type { CheckReporter, CheckReporterOptions, ReportMode } from './checkReporter'
export { backoffSeconds, createCheckReporter } from './checkReporter'
export type { CommitTarget } from './commitTarget'
export { PIPELINE_KIND, STEP_KIND } from './commitTarget'
export type { GithubApp, GithubAppCredentials } from './githubApp'
export { createGithubApp, GithubOctokit } from './githubApp'
export type { Pipeline, PipelineStep } from './pipeline'
export { DEFAULT_INSTALL, DEFAULT_SCRIPTS, defaultPipeline, PIPELINE_PATH, parsePipeline } from './pipeline'
export type { PipelineHandlerOptions, PipelineResult } from './pipelineHandler'
export { createPipelineHandler } from './pipelineHandler'
export type { OpenedPullRequest, PullRequestOpenerOptions, PullRequestRequest } from './pullRequests'
export { createPullRequestOpener, githubRepositoryOf, PullRequestError } from './pullRequests'
export type { StepHandlerOptions, StepResult } from './stepHandler'
export { createStepHandler, StepParams } from './stepHandler'
export type { DeliveryOutcome, ForkPolicy, GithubWebhookOptions, WebhookHandler } from './webhookHandler'
export { createGithubWebhookHandler } from './webhookHandler'
