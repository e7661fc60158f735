import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the fake GitHub received. */
export interface Recorded {
  method: string
  path: string
  body: Record<string, unknown> | undefined
  status: number
  /** For check-run requests: the check run's id. */
  checkRunId?: number
}

/** An answer to inject instead of the normal one, once, for the first request that matches. */
export interface Fault {
  method: string
  path: RegExp
  status: number
  headers?: Record<string, string>
  body?: unknown
}

/** A pull request, as GitHub would hold it. */
export interface PullRequest {
  repo: string
  number: number
  head: string
  base: string
  title: string
  body: string
  state: 'open' | 'closed'
  html_url: string
}

/** The state of one check run, as GitHub would hold it. */
export interface CheckRun {
  id: number
  name: string
  head_sha: string
  external_id?: string
  status: string
  conclusion?: string
  details_url?: string
  output?: { title: string; summary: string; text?: string }
  updates: number
}

/**
 * A local HTTP server that answers like GitHub's REST API, at Octokit's `baseUrl`: the App JWT
 * exchange (the JWT is verified against the App's public key), repository contents read from a real
 * bare git repository, check runs and commit statuses. Faults can be injected.
 */
export async function startFakeGithub(options: { appId: number; bareRepo: string; checksDenied?: boolean }) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const privatePem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  const records: Recorded[] = []
  const faults: Fault[] = []
  const tokens = new Set<string>()
  /** What each token may do, as asked when it was minted (undefined: everything the App has). */
  const tokenScopes = new Map<string, { permissions?: Record<string, string>; repositories?: string[] }>()
  const pulls: PullRequest[] = []
  const checkRuns = new Map<number, CheckRun>()
  const statuses: Record<string, unknown>[] = []
  let nextId = 1000

  const verifyJwt = (authorization: string | undefined): boolean => {
    const jwt = authorization?.replace(/^bearer /i, '') ?? ''
    const [h, p, s] = jwt.split('.')
    if (!h || !p || !s) return false
    const ok = verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss: number | string; exp: number }
    return ok && String(claims.iss) === String(options.appId) && claims.exp > Date.now() / 1000
  }

  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString()
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const path = url.pathname
      const method = req.method ?? 'GET'
      const body = await readBody(req)
      const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
        const record: Recorded = { method, path, body, status }
        const m = /\/check-runs\/(\d+)$/.exec(path)
        if (m) record.checkRunId = Number(m[1])
        records.push(record)
        if (typeof data === 'string') {
          res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers })
          res.end(data)
        } else {
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
          res.end(JSON.stringify(data))
        }
        return record
      }
      const fault = faults.findIndex((f) => f.method === method && f.path.test(path))
      if (fault >= 0) {
        const [f] = faults.splice(fault, 1)
        if (f) return send(f.status, f.body ?? { message: `fault ${f.status}` }, f.headers)
      }

      const tokenRoute = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path)
      if (method === 'POST' && tokenRoute) {
        if (!verifyJwt(req.headers.authorization))
          return send(401, { message: 'A JSON web token could not be decoded' })
        const token = `ghs_${randomBytes(18).toString('hex')}`
        tokens.add(token)
        tokenScopes.set(token, {
          permissions: body?.permissions as Record<string, string> | undefined,
          repositories: body?.repositories as string[] | undefined,
        })
        return send(201, {
          token,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          permissions: body?.permissions ?? { checks: 'write', contents: 'read', statuses: 'write' },
          repository_selection: body?.repositories ? 'selected' : 'all',
        })
      }
      const installationRoute = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path)
      if (method === 'GET' && installationRoute) {
        if (!verifyJwt(req.headers.authorization))
          return send(401, { message: 'A JSON web token could not be decoded' })
        if (installationRoute[1] === 'nobody') return send(404, { message: 'Not Found' })
        return send(200, { id: 77, account: { login: installationRoute[1] } })
      }
      const token = req.headers.authorization?.replace(/^token /i, '')
      if (!token || !tokens.has(token)) return send(401, { message: 'Bad credentials' })
      const scope = tokenScopes.get(token)
      const may = (permission: string, repo: string, level: 'read' | 'write') => {
        if (scope?.repositories && !scope.repositories.includes(repo)) return false
        const granted = scope?.permissions?.[permission]
        return !scope?.permissions || granted === 'write' || (level === 'read' && granted === 'read')
      }
      const headOf = (branch: string) => {
        try {
          return execFileSync(
            'git',
            ['-C', options.bareRepo, 'rev-parse', '--verify', `refs/heads/${branch}`],
            {
              stdio: ['ignore', 'pipe', 'ignore'],
            },
          )
            .toString()
            .trim()
        } catch {
          return undefined
        }
      }

      const repoRoute = /^\/repos\/([^/]+)\/([^/]+)$/.exec(path)
      if (method === 'GET' && repoRoute) {
        return send(200, { full_name: `${repoRoute[1]}/${repoRoute[2]}`, default_branch: 'main' })
      }
      const pullsRoute = /^\/repos\/([^/]+)\/([^/]+)\/pulls$/.exec(path)
      if (pullsRoute && method === 'POST') {
        const [owner, repo] = [pullsRoute[1] as string, pullsRoute[2] as string]
        if (!may('pull_requests', repo, 'write'))
          return send(403, { message: 'Resource not accessible by integration' })
        const head = String(body?.head ?? '')
        const base = String(body?.base ?? '')
        if (!headOf(head) || !headOf(base))
          return send(422, { message: 'Validation Failed', errors: [{ field: 'head' }] })
        if (
          pulls.some(
            (p) => p.repo === `${owner}/${repo}` && p.head === head && p.base === base && p.state === 'open',
          )
        )
          return send(422, {
            message: 'Validation Failed',
            errors: [{ message: `A pull request already exists for ${owner}:${head}.` }],
          })
        const number = pulls.length + 1
        const pr: PullRequest = {
          repo: `${owner}/${repo}`,
          number,
          head,
          base,
          title: String(body?.title ?? ''),
          body: String(body?.body ?? ''),
          state: 'open',
          html_url: `https://github.example/${owner}/${repo}/pull/${number}`,
        }
        pulls.push(pr)
        return send(201, pr)
      }
      if (pullsRoute && method === 'GET') {
        const [owner, repo] = [pullsRoute[1] as string, pullsRoute[2] as string]
        if (!may('pull_requests', repo, 'read'))
          return send(403, { message: 'Resource not accessible by integration' })
        const head = url.searchParams.get('head')
        const state = url.searchParams.get('state') ?? 'open'
        return send(
          200,
          pulls.filter(
            (p) =>
              p.repo === `${owner}/${repo}` &&
              (state === 'all' || p.state === state) &&
              (!head || `${owner}:${p.head}` === head),
          ),
        )
      }

      const contents = /^\/repos\/([^/]+)\/([^/]+)\/contents\/(.+)$/.exec(path)
      if (method === 'GET' && contents) {
        const ref = url.searchParams.get('ref') ?? 'HEAD'
        try {
          const text = execFileSync(
            'git',
            ['-C', options.bareRepo, 'show', `${ref}:${decodeURIComponent(contents[3] ?? '')}`],
            {
              stdio: ['ignore', 'pipe', 'ignore'],
            },
          ).toString()
          return send(200, text)
        } catch {
          return send(404, { message: 'Not Found' })
        }
      }
      const list = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([0-9a-f]{40})\/check-runs$/.exec(path)
      if (method === 'GET' && list) {
        const name = url.searchParams.get('check_name')
        const found = [...checkRuns.values()].filter(
          (c) => c.head_sha === list[3] && (!name || c.name === name),
        )
        return send(200, { total_count: found.length, check_runs: found })
      }
      const create = /^\/repos\/([^/]+)\/([^/]+)\/check-runs$/.exec(path)
      if (method === 'POST' && create) {
        if (options.checksDenied) return send(403, { message: 'Resource not accessible by integration' })
        const id = nextId++
        const b = body as unknown as CheckRun
        checkRuns.set(id, { ...b, id, updates: 0 })
        const r = send(201, { ...b, id })
        r.checkRunId = id
        return r
      }
      const update = /^\/repos\/([^/]+)\/([^/]+)\/check-runs\/(\d+)$/.exec(path)
      if (method === 'PATCH' && update) {
        const run = checkRuns.get(Number(update[3]))
        if (!run) return send(404, { message: 'Not Found' })
        if (run.status === 'completed') return send(422, { message: 'check run already completed' })
        Object.assign(run, body, { updates: run.updates + 1 })
        return send(200, run)
      }
      const status = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path)
      if (method === 'POST' && status) {
        statuses.push({ ...body, sha: status[3] })
        return send(201, { id: nextId++, ...body })
      }
      return send(404, { message: `no fake for ${method} ${path}` })
    })().catch((err) => {
      res.writeHead(500)
      res.end(String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    privateKey: privatePem,
    records,
    faults,
    tokens,
    checkRuns,
    statuses,
    pulls,
    /** The check runs of a commit, by name. */
    checksOf(sha: string): Record<string, CheckRun> {
      return Object.fromEntries(
        [...checkRuns.values()].filter((c) => c.head_sha === sha).map((c) => [c.name, c]),
      )
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
export type FakeGithub = Awaited<ReturnType<typeof startFakeGithub>>

/** A real git repository with one commit per entry (files relative to its root); returns the shas. */
export function createGitRepo(
  dir: string,
  commits: Record<string, string>[],
): { bare: string; shas: string[] } {
  const work = `${dir}/work`
  const bare = `${dir}/repo.git`
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: work,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@e',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@e',
      },
    })
      .toString()
      .trim()
  mkdirSync(work, { recursive: true })
  git('init', '-q', '-b', 'main')
  const shas: string[] = []
  for (const files of commits) {
    git('rm', '-rq', '--ignore-unmatch', '.')
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(`${work}/${name}`.replace(/\/[^/]+$/, ''), { recursive: true })
      writeFileSync(`${work}/${name}`, content)
    }
    git('add', '-A')
    git('commit', '-qm', `commit ${shas.length + 1}`, '--allow-empty')
    shas.push(git('rev-parse', 'HEAD'))
    git('tag', `c${shas.length}`)
  }
  execFileSync('git', ['clone', '-q', '--bare', work, bare])
  // GitHub serves any commit by sha; a local bare repository does so when asked to.
  execFileSync('git', ['-C', bare, 'config', 'uploadpack.allowAnySHA1InWant', 'true'])
  return { bare, shas }
}
