import { copyFileSync, existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * migrate() prefers the migrations copied into packages/core/migrations by core's build over the
 * repository's supabase/migrations. A copy from an older build would miss newer migrations, so
 * before the database is set up, bring that copy up to date (files are only added or refreshed).
 */
export default function setup() {
  const here = dirname(fileURLToPath(import.meta.url))
  const source = resolve(here, '../../../supabase/migrations')
  const copy = resolve(here, '../../core/migrations')
  if (!existsSync(copy)) return
  for (const f of readdirSync(source)) if (f.endsWith('.sql')) copyFileSync(join(source, f), join(copy, f))
}
