/**
 * `@ops-control-room/github/webhook`: the webhook receiver alone, for hosts that only receive
 * (a Supabase Edge Function): no Octokit clients, no worker, no child processes.
 */
export type { DeliveryOutcome, ForkPolicy, GithubWebhookOptions, WebhookHandler } from './webhookHandler'
export { createGithubWebhookHandler } from './webhookHandler'
