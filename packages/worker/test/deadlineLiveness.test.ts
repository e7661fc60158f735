import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packageDir } from './helpers'

const fixture = resolve(packageDir, 'test/fixtures/deadlineLiveness.ts')
const run = (mode: string) => {
  const out = spawnSync(process.execPath, ['--import', 'tsx', fixture, mode], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 30_000,
  })
  return JSON.parse(out.stdout.trim().split('\n').at(-1) ?? 'null')
}

// One shared timer serves every call's deadline (periodic.ts): it must keep a process alive while a
// call waits, as each call's own timer did, and must not once every call has settled.
describe('withDeadline and the life of the process', () => {
  it('keeps the process alive until a pending call’s deadline', () => {
    expect(run('pending')).toEqual({ error: 'the hung call took longer than 300 ms and was abandoned' })
  })

  it('lets the process exit once every call has settled, long before their deadlines', () => {
    expect(run('settled').exitAfterMs).toBeLessThan(30_000)
  })
})
