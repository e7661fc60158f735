// The executor API as a Supabase Edge Function: the same handler as the self-hosted server. Tokens are
// checked against OPS_JWT_SECRET (or SUPABASE_JWT_SECRET) when set, else against the project's JWKS.
import { supabaseStorageStore } from '@ops-control-room/core'
import { createExecutorHandler } from '@ops-control-room/core/postgres'
import { createClient } from '@supabase/supabase-js'
import postgres from 'postgres'

const env = (name: string) => Deno.env.get(name)
const jwtSecret = env('OPS_JWT_SECRET') ?? env('SUPABASE_JWT_SECRET')

// Least privilege: connect as the ops_executor role (LOGIN NOINHERIT, member of anon, authenticated
// and service_role only), so a request can never act as `postgres`. SUPABASE_DB_URL (the postgres
// user) is the fallback, with a warning: see "Who may run what" in the README.
const executorDbUrl = env('OPS_EXECUTOR_DB_URL')
if (!executorDbUrl) {
  console.warn(
    'ops-executor: OPS_EXECUTOR_DB_URL is not set, so requests run on a connection of the postgres user (SUPABASE_DB_URL). Create the ops_executor role and set OPS_EXECUTOR_DB_URL (README, "Who may run what").',
  )
}

Deno.serve(
  createExecutorHandler({
    // Supabase's pooler runs in transaction mode: no prepared statements.
    sql: postgres(executorDbUrl ?? env('SUPABASE_DB_URL')!, { prepare: false, max: 4 }),
    ...(jwtSecret ? { jwtSecret } : { jwks: `${env('SUPABASE_URL')}/auth/v1/.well-known/jwks.json` }),
    artifactStore: supabaseStorageStore(
      createClient(env('SUPABASE_URL')!, env('SUPABASE_SERVICE_ROLE_KEY')!),
    ),
  }),
)
