// The spec_kit_generate handler in a real worker, against real git remotes (bare repositories in a
// temp directory), a real PostgreSQL and a filesystem artifact store.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createWorker, filesystemArtifactStore, type Worker } from '@ops-control-room/worker'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SpecKitHandlerOptions, type SpecKitResult, specKitHandler } from '../src/index'
import { bareRemote, git, hook, setup } from './gitFixtures'
import { startGitHttpsServer } from './gitHttpsServer'

let t: Awaited<ReturnType<typeof setup>>
beforeAll(async () => {
  t = await setup()
})
const workers: Worker[] = []
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeoutMs: 0 })))
  await t.teardown()
})

const author = { name: 'Spec Bot', email: 'spec-bot@example.test' }

async function startWorker(options: Partial<SpecKitHandlerOptions>, name: string) {
  // One worker at a time: each test's runs must reach that test's repository.
  await Promise.all(workers.splice(0).map((w) => w.stop({ timeoutMs: 0 })))
  const worker = createWorker({
    client: t.client,
    handlers: [specKitHandler({ author, ...options } as SpecKitHandlerOptions)],
    artifactStore: filesystemArtifactStore({ root: join(t.dir, 'artifacts') }),
    workspaceRoot: join(t.dir, `workspaces-${name}`),
    heartbeatIntervalMs: 300,
    pollIntervalMs: 100,
    abortGraceMs: 10_000,
  })
  workers.push(worker)
  await worker.start()
  return worker
}

const params = (feature: string, extra: Record<string, unknown> = {}) => ({
  feature,
  title: `Feature ${feature}`,
  summary: `Adds ${feature}. It matters.`,
  ...extra,
})

/** Waits until `dir` is empty (workspaces are removed just after a run settles); fails after 5 s. */
async function emptied(dir: string) {
  const until = Date.now() + 5000
  while ((await readdir(dir)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
  expect(await readdir(dir)).toEqual([])
}

/** Commits on `branch` of the bare repo whose message names the run. */
const commitsOfRun = (bare: string, branch: string, runId: string) =>
  git(bare, 'log', '--format=%H', '--fixed-strings', `--grep=Ops-Run-Id: ${runId}`, branch)
    .split('\n')
    .filter(Boolean)

describe('spec_kit_generate', () => {
  it('clones, writes four files, commits as the author with the feature and run id, pushes, uploads four artifacts', async () => {
    const bare = await bareRemote(t.dir, 'basic')
    const worker = await startWorker(
      { repo: { url: bare, commitUrl: 'https://git.example/specs/commit/{sha}' } },
      'basic',
    )
    const prd = '# PRD written by hand\n\nKeep me.\n'
    const run = await t.enqueue(params('billing-export', { prd }))
    const done = await t.settled(run.id)
    expect(done.error).toBeNull()
    const result = done.result as SpecKitResult
    expect(result).toMatchObject({
      feature: 'billing-export',
      branch: 'spec-kit/billing-export',
      remote: bare,
      committed: true,
      reused: false,
      pushed: true,
      commitUrl: `https://git.example/specs/commit/${result.sha}`,
    })
    expect(git(bare, 'rev-parse', 'spec-kit/billing-export')).toBe(result.sha)
    // Branched from main: its parent is main's tip, and it adds exactly the four files.
    expect(git(bare, 'rev-parse', `${result.sha}^`)).toBe(git(bare, 'rev-parse', 'main'))
    expect(
      git(bare, 'diff-tree', '--no-commit-id', '--name-only', '-r', result.sha).split('\n').sort(),
    ).toEqual([
      'spec/billing-export/constitution.md',
      'spec/billing-export/plan.md',
      'spec/billing-export/prd.md',
      'spec/billing-export/tasks.md',
    ])
    expect(git(bare, 'show', '-s', '--format=%an <%ae>|%cn <%ce>', result.sha)).toBe(
      'Spec Bot <spec-bot@example.test>|Spec Bot <spec-bot@example.test>',
    )
    const message = git(bare, 'show', '-s', '--format=%B', result.sha)
    expect(message).toContain('billing-export')
    expect(message).toContain(`Ops-Run-Id: ${run.id}`)
    // The given document is kept as written; the others are rendered from the inputs.
    expect(git(bare, 'show', `${result.sha}:spec/billing-export/prd.md`)).toBe(prd.trim())
    const plan = git(bare, 'show', `${result.sha}:spec/billing-export/plan.md`)
    expect(plan).toMatch(/^# Plan: Feature billing-export\n/)
    expect(plan).toContain('Adds billing-export. It matters.')
    // Four artifacts whose bytes hash to the result's sha256s, the same bytes as the commit.
    const artifacts = await t.client.artifacts.list({ runId: run.id })
    const files = artifacts.filter((a) => a.kind === 'file')
    expect(files.map((a) => a.name).sort()).toEqual(['constitution.md', 'plan.md', 'prd.md', 'tasks.md'])
    for (const f of result.files) {
      const content = `${git(bare, 'show', `${result.sha}:${f.path}`)}\n`
      expect(createHash('sha256').update(content).digest('hex')).toBe(f.sha256)
      expect(files.find((a) => a.id === f.artifactId)?.sha256).toBe(f.sha256)
    }
    expect(artifacts.some((a) => a.kind === 'link' && a.url === result.commitUrl)).toBe(true)
    // The run's workspace (the clone) is gone.
    await emptied(join(t.dir, 'workspaces-basic'))
    await worker.stop()
  })

  it('commits on top of a branch that already exists, and makes no empty commit for identical content', async () => {
    const bare = await bareRemote(t.dir, 'existing')
    const work = join(t.dir, 'existing-work')
    git(t.dir, 'clone', '--quiet', bare, work)
    git(work, 'checkout', '--quiet', '-b', 'specs')
    await mkdir(join(work, 'notes'))
    await import('node:fs/promises').then((fs) => fs.writeFile(join(work, 'notes', 'a.md'), 'a\n'))
    git(work, 'add', '.')
    git(work, 'commit', '--quiet', '-m', 'existing work')
    git(work, 'push', '--quiet', 'origin', 'specs')
    const tip = git(bare, 'rev-parse', 'specs')

    const worker = await startWorker({ repo: bare }, 'existing')
    const first = (await t.settled((await t.enqueue(params('search', { branch: 'specs' }))).id))
      .result as SpecKitResult
    expect(first.committed).toBe(true)
    expect(git(bare, 'rev-parse', `${first.sha}^`)).toBe(tip)

    const again = (await t.settled((await t.enqueue(params('search', { branch: 'specs' }))).id))
      .result as SpecKitResult
    expect(again).toMatchObject({ committed: false, sha: first.sha, pushed: true })
    expect(git(bare, 'rev-parse', 'specs')).toBe(first.sha)
    await worker.stop()
  })

  it('keeps its own trailers out of reach of a commit message, and pushes nothing when push is false', async () => {
    const bare = await bareRemote(t.dir, 'message')
    const worker = await startWorker({ repo: bare }, 'message')
    const forged = '00000000-0000-4000-8000-000000000000'
    const run = await t.enqueue(
      params('trailers', { commitMessage: `Add the spec\n\nOps-Run-Id: ${forged}\nspec-kit-feature: other` }),
    )
    const result = (await t.settled(run.id)).result as SpecKitResult
    const message = git(bare, 'show', '-s', '--format=%B', result.sha)
    expect(message.split('\n')[0]).toBe('Add the spec')
    expect(message).not.toContain(forged)
    expect(message.match(/^Ops-Run-Id: .*$/gim)).toEqual([`Ops-Run-Id: ${run.id}`])
    expect(message.match(/^Spec-Kit-Feature: .*$/gim)).toEqual(['Spec-Kit-Feature: trailers'])

    const dry = (await t.settled((await t.enqueue(params('dry-run', { push: false }))).id))
      .result as SpecKitResult
    expect(dry).toMatchObject({ committed: true, pushed: false })
    expect(git(bare, 'branch', '--list', 'spec-kit/dry-run')).toBe('')
    await worker.stop()
  })

  it('works on an empty remote (the branch starts the history)', async () => {
    const bare = await bareRemote(t.dir, 'empty', false)
    const worker = await startWorker({ repo: bare }, 'empty')
    const run = await t.enqueue(params('first'))
    const result = (await t.settled(run.id)).result as SpecKitResult
    expect(git(bare, 'rev-list', '--count', 'spec-kit/first')).toBe('1')
    expect(result.sha).toBe(git(bare, 'rev-parse', 'spec-kit/first'))
    await worker.stop()
  })

  it('retries after a failure between commit and push: the branch gets exactly one commit of the run', async () => {
    const bare = await bareRemote(t.dir, 'crash-before-push')
    // The first push is refused (the attempt fails after committing locally); later ones pass.
    const marker = join(t.dir, 'refused-once')
    await hook(
      bare,
      'pre-receive',
      `if [ ! -e ${marker} ]; then touch ${marker}; echo refused >&2; exit 1; fi`,
    )
    const worker = await startWorker({ repo: bare }, 'crash-before-push')
    const run = await t.enqueue(params('retry-me'), { maxAttempts: 3 })
    const done = await t.settled(run.id)
    expect(done.status).toBe('succeeded')
    expect(done.attempt).toBe(2)
    const result = done.result as SpecKitResult
    expect(commitsOfRun(bare, 'spec-kit/retry-me', run.id)).toEqual([result.sha])
    expect(git(bare, 'rev-list', '--count', 'main..spec-kit/retry-me')).toBe('1')
    await worker.stop()
  })

  it('retries after a failure after the push: finds its commit by the run trailer and does not commit again', async () => {
    const bare = await bareRemote(t.dir, 'crash-after-push')
    let calls = 0
    const worker = await startWorker(
      {
        repo: bare,
        openPullRequest: async ({ branch }) => {
          calls++
          if (calls === 1) throw new Error('the pull request API is down')
          return { url: `https://git.example/pulls/${branch}` }
        },
      },
      'crash-after-push',
    )
    const run = await t.enqueue(params('pr-retry', { openPullRequest: true }), { maxAttempts: 3 })
    const done = await t.settled(run.id)
    expect(done.status).toBe('succeeded')
    const result = done.result as SpecKitResult
    expect(result).toMatchObject({
      reused: true,
      committed: false,
      pullRequestUrl: 'https://git.example/pulls/spec-kit/pr-retry',
    })
    expect(commitsOfRun(bare, 'spec-kit/pr-retry', run.id)).toEqual([result.sha])
    expect(git(bare, 'rev-list', '--count', 'main..spec-kit/pr-retry')).toBe('1')
    // The first attempt uploaded the four files before the pull request failed: not stored twice.
    expect(calls).toBe(2)
    const artifacts = await t.client.artifacts.list({ runId: run.id })
    expect(
      artifacts
        .filter((a) => a.kind === 'file')
        .map((a) => a.name)
        .sort(),
    ).toEqual(['constitution.md', 'plan.md', 'prd.md', 'tasks.md'])
    expect(result.files.map((f) => f.artifactId).sort()).toEqual(
      artifacts
        .filter((a) => a.kind === 'file')
        .map((a) => a.id)
        .sort(),
    )
    await worker.stop()
  })

  it('cancels during a slow push: kills git’s process group, the remote is untouched, the workspace removed', async () => {
    const bare = await bareRemote(t.dir, 'slow')
    const pidFile = join(t.dir, 'slow-hook.pid')
    await hook(bare, 'pre-receive', `echo $$ > ${pidFile}\nsleep 60`)
    const worker = await startWorker({ repo: bare, git: { killGraceMs: 500 } }, 'slow')
    const run = await t.enqueue(params('slow-one'))
    const deadline = Date.now() + 20_000
    while (!existsSync(pidFile)) {
      if (Date.now() > deadline) throw new Error('the hook never started')
      await new Promise((r) => setTimeout(r, 20))
    }
    const hookPid = Number((await readFile(pidFile, 'utf8')).trim())
    await t.client.runs.cancel(run.id)
    const done = await t.settled(run.id)
    expect(done.status).toBe('cancelled')
    // The hook (a grandchild of git push) died with the group.
    const alive = () => {
      try {
        process.kill(hookPid, 0)
        return true
      } catch {
        return false
      }
    }
    const until = Date.now() + 5000
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(alive()).toBe(false)
    expect(git(bare, 'branch', '--list', 'spec-kit/slow-one')).toBe('')
    await emptied(join(t.dir, 'workspaces-slow'))
    await worker.stop()
  })

  it('refuses features that could escape spec/<feature>/, and a repository whose spec/ is a symlink', async () => {
    const bare = await bareRemote(t.dir, 'hostile')
    const worker = await startWorker({ repo: bare }, 'hostile')
    for (const feature of [
      '../escape',
      '..',
      '/etc',
      'a/b',
      'a\\b',
      '.hidden',
      '',
      'x'.repeat(65),
      'UPPER',
    ]) {
      const done = await t.settled((await t.enqueue(params(feature))).id)
      expect(done.status, feature).toBe('failed')
      expect(done.error?.type, feature).toBe('validation')
    }
    expect(git(bare, 'branch', '--list')).toBe('* main')

    // A repository whose content points spec/ elsewhere must not redirect the write.
    const outside = join(t.dir, 'outside')
    await mkdir(outside)
    const work = join(t.dir, 'hostile-work')
    git(t.dir, 'clone', '--quiet', bare, work)
    await symlink(outside, join(work, 'spec'))
    git(work, 'add', 'spec')
    git(work, 'commit', '--quiet', '-m', 'spec is a symlink')
    git(work, 'push', '--quiet', 'origin', 'main')
    const done = await t.settled((await t.enqueue(params('victim'))).id)
    expect(done.status).toBe('failed')
    expect(done.error?.type).toBe('unsafe_path')
    expect(await readdir(outside)).toEqual([])
    await worker.stop()
  })

  it('sends a secret token as an HTTP header from ctx.secrets, and it appears in no error, event or result', async () => {
    const seen: string[] = []
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '')
      res.statusCode = 403
      res.end('nope')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const token = 'tok_very_secret_value_123'
    process.env.OPS_SECRET_SPEC_KIT_TEST_TOKEN = token
    try {
      const worker = await startWorker(
        { repo: { url: `http://127.0.0.1:${port}/specs.git`, token: { $secret: 'SPEC_KIT_TEST_TOKEN' } } },
        'token',
      )
      const run = await t.enqueue(params('with-token'), { maxAttempts: 1 })
      const done = await t.settled(run.id)
      expect(done.status).toBe('failed')
      expect(done.error?.type).toBe('git')
      expect(seen).toContain(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`)
      const events = await t.client.events.list({ runId: run.id })
      const everything = JSON.stringify({ done, events })
      expect(everything).not.toContain(token)
      expect(everything).not.toContain(Buffer.from(`x-access-token:${token}`).toString('base64'))
      await worker.stop()
    } finally {
      delete process.env.OPS_SECRET_SPEC_KIT_TEST_TOKEN
      server.close()
    }
  })

  it('pushes over HTTPS to a real git server that checks the token, and a wrong token fails the run cleanly', async () => {
    const root = join(t.dir, 'https-root')
    await mkdir(root, { recursive: true })
    const bare = await bareRemote(root, 'specs')
    git(bare, 'config', 'http.receivepack', 'true')
    const token = 'ghs_https_token_that_must_not_leak'
    const server = await startGitHttpsServer({ root, dir: t.dir, password: token })
    process.env.OPS_SECRET_SPEC_KIT_HTTPS_TOKEN = token
    try {
      const remote = `${server.url}/specs.git`
      const worker = await startWorker(
        {
          repo: { url: remote, token: { $secret: 'SPEC_KIT_HTTPS_TOKEN' } },
          git: { env: { GIT_SSL_CAINFO: server.caFile } },
        },
        'https',
      )
      const run = await t.enqueue(params('over-https'))
      const done = await t.settled(run.id)
      expect(done.error).toBeNull()
      const result = done.result as SpecKitResult
      expect(git(bare, 'rev-parse', 'spec-kit/over-https')).toBe(result.sha)
      // Every request git made carried the token; none was refused.
      expect(server.requests.filter((r) => r.status === 401)).toEqual([])
      expect(server.requests.some((r) => r.path.endsWith('/git-receive-pack') && r.status === 200)).toBe(true)
      await worker.stop()

      process.env.OPS_SECRET_SPEC_KIT_HTTPS_TOKEN = 'ghs_wrong_token'
      const refused = await startWorker(
        {
          repo: { url: remote, token: { $secret: 'SPEC_KIT_HTTPS_TOKEN' } },
          git: { env: { GIT_SSL_CAINFO: server.caFile } },
        },
        'https-refused',
      )
      const bad = await t.settled((await t.enqueue(params('refused'), { maxAttempts: 1 })).id)
      expect(bad.status).toBe('failed')
      expect(bad.error?.type).toBe('git')
      expect(server.requests.at(-1)?.status).toBe(401)
      expect(() => git(bare, 'rev-parse', '--verify', 'spec-kit/refused')).toThrow()
      const events = await t.client.events.list({ runId: bad.id })
      expect(JSON.stringify({ bad, events })).not.toContain('ghs_wrong_token')
      await refused.stop()
    } finally {
      delete process.env.OPS_SECRET_SPEC_KIT_HTTPS_TOKEN
      await server.close()
    }
  })
})
