// Ships the repository's supabase/migrations inside the package, so migrate() applies the very same files.
import { cpSync, rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const target = resolve(here, '../migrations')
rmSync(target, { recursive: true, force: true })
cpSync(resolve(here, '../../../supabase/migrations'), target, { recursive: true })
