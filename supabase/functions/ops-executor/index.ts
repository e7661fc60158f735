// The executor API as a Supabase Edge Function: the same handler as the self-hosted server. Tokens are
// checked against OPS_JWT_SECRET (or SUPABASE_JWT_SECRET) when set, else against the project's JWKS.
import { supabaseStorageStore } from '@ops-control-room/core'
import { createExecutorHandler } from '@ops-control-room/core/postgres'
import { createClient } from '@supabase/supabase-js'
import postgres from 'postgres'

const env = (name: string) => Deno.env.get(name)
const jwtSecret = env('OPS_JWT_SECRET') ?? env('SUPABASE_JWT_SECRET')

Deno.serve(
  createExecutorHandler({
    // Supabase's pooler runs in transaction mode: no prepared statements.
    sql: postgres(env('SUPABASE_DB_URL')!, { prepare: false, max: 4 }),
    ...(jwtSecret ? { jwtSecret } : { jwks: `${env('SUPABASE_URL')}/auth/v1/.well-known/jwks.json` }),
    artifactStore: supabaseStorageStore(
      createClient(env('SUPABASE_URL')!, env('SUPABASE_SERVICE_ROLE_KEY')!),
    ),
  }),
)
