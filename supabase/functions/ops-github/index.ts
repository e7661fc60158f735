// The GitHub App's webhook receiver as a Supabase Edge Function: the same handler that
// `createServer({ handlers })` mounts. It verifies X-Hub-Signature-256 against GITHUB_WEBHOOK_SECRET
// and writes the delivery, the session and its pipeline run in one transaction; workers and the
// check reporter run elsewhere (see @ops-control-room/github's README).
import { createGithubWebhookHandler } from '@ops-control-room/github/webhook'
import postgres from 'postgres'

const env = (name: string) => Deno.env.get(name)

Deno.serve(
  createGithubWebhookHandler({
    // Supabase's pooler runs in transaction mode: no prepared statements.
    sql: postgres(env('SUPABASE_DB_URL')!, { prepare: false, max: 4 }),
    secret: env('GITHUB_WEBHOOK_SECRET')!,
  }),
)
