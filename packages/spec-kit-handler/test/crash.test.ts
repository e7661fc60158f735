// A real crash: an `ops-worker` process is SIGKILLed after committing and while its push is in
// flight. The run is recovered by another worker process, which makes the very same commit (same
// sha) and pushes it: the branch gets one commit of the run.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SpecKitResult } from '../src/index'
import { bareRemote, git, hook, setup } from './gitFixtures'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const opsWorker = fileURLToPath(new URL('../../worker/src/bin/opsWorker.ts', import.meta.url))

let t: Awaited<ReturnType<typeof setup>>
const children: ChildProcess[] = []
let orphanGroup: number | undefined
beforeAll(async () => {
  t = await setup()
})
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  if (orphanGroup) {
    try {
      process.kill(-orphanGroup, 'SIGKILL')
    } catch {
      // Gone already.
    }
  }
  await t.teardown()
})

/** Starts `ops-worker` from source; resolves once it logs `ready`. */
async function startWorkerProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', opsWorker], {
    cwd: packageDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes('"msg":"ready"')) resolve()
    })
    child.on('exit', (code) =>
      reject(new Error(`ops-worker exited (${code}) before it was ready: ${stderr}`)),
    )
  })
  return child
}

describe('spec_kit_generate across a worker crash', () => {
  it('a SIGKILL between commit and push: the retry on another worker pushes the same commit, once', async () => {
    const bare = await bareRemote(t.dir, 'crash')
    const mark = join(t.dir, 'first-push')
    // The first push (the victim's) records what it pushes and its pid, then hangs; later ones pass.
    await hook(
      bare,
      'pre-receive',
      `line=$(cat)\nif [ ! -e ${mark} ]; then echo $$ > ${mark}.pid; echo "$line" > ${mark}; sleep 60; exit 1; fi\nexit 0`,
    )
    const env = {
      DATABASE_URL: t.db.url,
      OPS_HANDLERS: 'test/fixtures/workerHandlers.ts',
      SPEC_KIT_REPO: bare,
      SPEC_KIT_AUTHOR_NAME: 'Spec Bot',
      SPEC_KIT_AUTHOR_EMAIL: 'spec-bot@example.test',
      OPS_ARTIFACTS_DIR: join(t.dir, 'artifacts'),
      OPS_WORKSPACE_DIR: join(t.dir, 'workspaces'),
      OPS_HEARTBEAT_INTERVAL_MS: '300',
      OPS_HEARTBEAT_TIMEOUT_S: '2',
      OPS_SWEEP_INTERVAL_MS: '300',
      OPS_POLL_INTERVAL_MS: '100',
      OPS_DB_POOL: '3',
    }
    const victim = await startWorkerProcess({ ...env, WORKER_ID: 'victim' })
    const run = await t.enqueue(
      { feature: 'crash-safe', title: 'Crash safe', summary: 'Survives a SIGKILL.' },
      { maxAttempts: 3 },
    )
    const deadline = Date.now() + 30_000
    while (!existsSync(mark) || (await readFile(mark, 'utf8')).trim() === '') {
      if (Date.now() > deadline) throw new Error('the victim never pushed')
      await new Promise((r) => setTimeout(r, 20))
    }
    // "<old> <new> <ref>": the commit the victim made and was pushing.
    const [, victimSha, ref] = (await readFile(mark, 'utf8')).trim().split(' ')
    expect(ref).toBe('refs/heads/spec-kit/crash-safe')
    const hookPid = Number((await readFile(`${mark}.pid`, 'utf8')).trim())
    orphanGroup = Number(readFileSync(`/proc/${hookPid}/stat`, 'utf8').split(') ')[1]?.split(' ')[2])
    victim.kill('SIGKILL')

    await startWorkerProcess({ ...env, WORKER_ID: 'rescuer' })
    const done = await t.settled(run.id)
    expect(done.status).toBe('succeeded')
    expect(done.attempt).toBe(2)
    const result = done.result as SpecKitResult
    expect(result.sha).toBe(victimSha)
    expect(git(bare, 'rev-parse', 'spec-kit/crash-safe')).toBe(victimSha)
    expect(git(bare, 'rev-list', '--count', 'main..spec-kit/crash-safe')).toBe('1')
  })
})
