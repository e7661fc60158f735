// Opening pull requests as a GitHub App installation: the spec_kit_generate handler in a real worker
// pushes to a real bare repository, and a local HTTP server answering like GitHub's REST API (which
// reads branches from that repository) receives the pull request.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpsClient, type OpsClient } from '@ops-control-room/core'
import { postgresBackend } from '@ops-control-room/core/postgres'
import { type SpecKitResult, specKitHandler } from '@ops-control-room/spec-kit-handler'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import { createWorker, filesystemArtifactStore } from '@ops-control-room/worker'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGithubApp } from '../src/githubApp'
import { createPullRequestOpener, githubRepositoryOf, PullRequestError } from '../src/pullRequests'
import { createGitRepo, type FakeGithub, startFakeGithub } from './fakeGithub'

let db: TestDatabase
let client: OpsClient
let dir: string
let bare: string
let github: FakeGithub

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-github-pulls-'))
  ;({ bare } = createGitRepo(dir, [{ 'README.md': '# specs\n' }]))
  github = await startFakeGithub({ appId: 3, bareRepo: bare })
  db = await createTestDatabase()
  client = createOpsClient({ backend: postgresBackend({ databaseUrl: db.url }) })
})
afterAll(async () => {
  await client.close()
  await github.close()
  await db.drop()
  await rm(dir, { recursive: true, force: true })
})

const app = () =>
  createGithubApp({
    appId: 3,
    privateKey: github.privateKey,
    baseUrl: github.url,
    writeIntervalMs: 0,
    retryBaseMs: 5,
  })

const request = (branch: string, extra: Record<string, unknown> = {}) => ({
  repo: 'default',
  remoteUrl: 'https://github.com/acme/specs.git',
  branch,
  baseBranch: undefined,
  title: `spec: ${branch}`,
  body: 'why',
  signal: new AbortController().signal,
  ...extra,
})

describe('githubRepositoryOf', () => {
  it('reads owner/name from HTTPS and SSH remotes, and nothing from other shapes', () => {
    expect(githubRepositoryOf('https://github.com/acme/specs.git')).toBe('acme/specs')
    expect(githubRepositoryOf('https://github.com/acme/specs')).toBe('acme/specs')
    expect(githubRepositoryOf('git@github.com:acme/specs.git')).toBe('acme/specs')
    expect(githubRepositoryOf('ssh://git@github.com/acme/specs.git')).toBe('acme/specs')
    expect(githubRepositoryOf('/srv/git/specs.git')).toBeUndefined()
    expect(githubRepositoryOf('https://github.com/acme/specs/extra')).toBeUndefined()
    expect(githubRepositoryOf('https://github.com/a c/specs')).toBeUndefined()
  })
})

describe('createPullRequestOpener', () => {
  it('spec_kit_generate pushes its branch and opens a pull request with a token narrowed to the repository', async () => {
    const worker = createWorker({
      client,
      handlers: [
        specKitHandler({
          repo: bare,
          author: { name: 'Spec Bot', email: 'spec-bot@example.test' },
          openPullRequest: createPullRequestOpener({ app: app(), repository: 'acme/specs' }),
        }),
      ],
      artifactStore: filesystemArtifactStore({ root: join(dir, 'artifacts') }),
      workspaceRoot: join(dir, 'workspaces'),
      pollIntervalMs: 100,
    })
    await worker.start()
    try {
      const session = await client.sessions.create({ name: 'spec with a pull request' })
      const [run] = await client.runs.enqueue({
        sessionId: session.id,
        runs: [
          {
            kind: 'spec_kit_generate',
            params: {
              feature: 'audit-log',
              title: 'Audit log',
              summary: 'Who did what.',
              openPullRequest: true,
            },
          },
        ],
      })
      let done = await client.runs.get(run?.id as string)
      for (let i = 0; i < 300 && done && !['succeeded', 'failed', 'cancelled'].includes(done.status); i++) {
        await new Promise((r) => setTimeout(r, 100))
        done = await client.runs.get(run?.id as string)
      }
      expect(done?.error).toBeNull()
      expect(done?.status).toBe('succeeded')
      const result = done?.result as SpecKitResult
      const [pr] = github.pulls
      expect(pr).toMatchObject({
        repo: 'acme/specs',
        head: 'spec-kit/audit-log',
        base: 'main',
        state: 'open',
      })
      expect(pr?.body).toContain(run?.id)
      expect(result.pullRequestUrl).toBe(pr?.html_url)
      // The token that opened it was minted for this repository and pull requests only.
      const minted = github.records.filter((r) => r.method === 'POST' && r.path.endsWith('/access_tokens'))
      expect(minted.at(-1)?.body).toMatchObject({
        repositories: ['specs'],
        permissions: { pull_requests: 'write', metadata: 'read' },
      })
      // The installation was asked of GitHub with the App's JWT, since none was given.
      expect(
        github.records.some((r) => r.method === 'GET' && r.path === '/repos/acme/specs/installation'),
      ).toBe(true)
    } finally {
      await worker.stop()
    }
  })

  it('returns the open pull request of the branch when asked again (a retried run), without a second one', async () => {
    const open = createPullRequestOpener({ app: app(), installationId: 77 })
    const first = await open(request('spec-kit/audit-log', { title: 'again' }))
    expect(first.created).toBe(false)
    expect(first.url).toBe(github.pulls[0]?.html_url)
    expect(github.pulls).toHaveLength(1)
  })

  it('fails with a typed error: unknown repository, unreadable remote, missing branch, bad names', async () => {
    const open = createPullRequestOpener({ app: app() })
    const noInstallation = await open(
      request('main', { remoteUrl: 'https://github.com/nobody/x.git' }),
    ).catch((e: unknown) => e)
    expect(noInstallation).toBeInstanceOf(PullRequestError)
    expect((noInstallation as PullRequestError).status).toBe(404)
    await expect(open(request('main', { remoteUrl: '/srv/git/specs.git' }))).rejects.toThrow(
      /cannot tell the GitHub repository/,
    )
    const missing = await open(request('no-such-branch')).catch((e: unknown) => e)
    expect((missing as PullRequestError).status).toBe(422)
    expect(() => createPullRequestOpener({ app: app(), repository: '../etc' })).toThrow(PullRequestError)
  })

  it('stops at once when the run is cancelled', async () => {
    const controller = new AbortController()
    controller.abort()
    const open = createPullRequestOpener({ app: app(), installationId: 77 })
    await expect(open(request('main', { signal: controller.signal }))).rejects.toThrow()
    expect(github.pulls).toHaveLength(1)
  })
})
