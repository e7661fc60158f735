import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { type AnyHandler, defineHandler, type HandlerContext, HandlerError } from '@ops-control-room/worker'
import { z } from 'zod'
import { CommitTarget, STEP_KIND } from './commitTarget'
import type { GithubApp } from './githubApp'

/** Params of a `github_step` run. */
export const StepParams = CommitTarget.extend({
  step: z.object({
    name: z.string().min(1).max(64),
    command: z.string().min(1).max(4000),
    env: z.array(z.string()).max(50).default([]),
    install: z.string().max(4000).optional(),
  }),
})
export type StepParams = z.output<typeof StepParams>

/** Options of `createStepHandler`. */
export interface StepHandlerOptions {
  app: GithubApp
  /**
   * Environment variables a pipeline may ask for by name (its steps' `env`). Anything else of the
   * worker's environment stays out of the step: a pull request edits its own pipeline file.
   * Never passed to pull requests from forks.
   */
  passEnv?: readonly string[]
  /** Where the values of `passEnv` come from. Default process.env. */
  envSource?: Record<string, string | undefined>
  /** The URL to fetch a repository from. Default https://github.com/OWNER/NAME.git. */
  cloneUrl?: (repository: string) => string
  /** Parent folder of each run's temporary workspace. Default the OS temp dir. */
  workRoot?: string
  /** After SIGTERM to the step's process group, wait this long before SIGKILL. Default 5000. */
  killGraceMs?: number
  /** Lines written as run events before only the log artifact keeps the rest. Default 5000. */
  maxEventLines?: number
  /** Largest log kept (the artifact), in bytes; the rest is cut with a note. Default 50 MiB. */
  maxLogBytes?: number
}

/** What a passing step returns. */
export interface StepResult {
  exitCode: 0
  durationMs: number
  lines: number
}

const TAIL_LINES = 40
const MAX_LINE = 8 * 1024

/**
 * The `github_step` handler: fetches the repository at the exact commit into a temporary workspace
 * with a short-lived installation token (passed to git through its environment, never in params,
 * events or artifacts, and redacted from every line), then runs the step's install and command with
 * /bin/sh in a process group of their own and an explicit environment (PATH, a private HOME, CI=true,
 * OPS_GITHUB_*, and the allowed `passEnv` names the step asks for — none for forks). Output lines
 * become `step:stdout`/`step:stderr` events; the whole log is uploaded as `<step>.log`. Cancel and
 * timeout kill the whole group (SIGTERM, then SIGKILL).
 *
 * @example
 * worker.register(createStepHandler({ app, passEnv: ['NPM_TOKEN'] }))
 */
export function createStepHandler(options: StepHandlerOptions): AnyHandler {
  const passEnv = new Set(options.passEnv ?? [])
  const envSource = options.envSource ?? process.env
  const killGraceMs = options.killGraceMs ?? 5000
  const maxEventLines = options.maxEventLines ?? 5000
  const maxLogBytes = options.maxLogBytes ?? 50 * 1024 * 1024
  const cloneUrl = options.cloneUrl ?? ((repository: string) => `https://github.com/${repository}.git`)

  return defineHandler({
    kind: STEP_KIND,
    description: 'Runs one pipeline step on a commit of a GitHub repository.',
    input: StepParams,
    async run(ctx): Promise<StepResult> {
      const p = ctx.params
      const started = performance.now()
      const dir = await mkdtemp(join(options.workRoot ?? tmpdir(), 'ops-github-'))
      const secrets: string[] = []
      const redact = (line: string) => {
        let out = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}… (line cut)` : line
        for (const s of secrets) out = out.split(s).join('***')
        return out
      }
      const logPath = join(dir, 'step.log')
      const log = createWriteStream(logPath)
      log.on('error', () => {}) // a full disk must not crash the worker; the log is then shorter.
      let logEnded: Promise<void> | undefined
      const endLog = () => {
        logEnded ??= new Promise<void>((resolve) => log.end(resolve))
        return logEnded
      }
      let logBytes = 0
      let lines = 0
      const tail: string[] = []
      const write = (stream: 'stdout' | 'stderr' | 'ops', raw: string) => {
        const line = redact(raw)
        lines++
        tail.push(line)
        if (tail.length > TAIL_LINES) tail.shift()
        if (!logEnded && logBytes < maxLogBytes) {
          const entry = `${line}\n`
          logBytes += Buffer.byteLength(entry)
          log.write(logBytes >= maxLogBytes ? `… log cut at ${maxLogBytes} bytes\n` : entry)
        }
        if (lines <= maxEventLines) {
          ctx.log.event(`step:${stream}`, line, { level: stream === 'stderr' ? 'warn' : 'info' })
          if (lines === maxEventLines)
            ctx.log.warn(`more than ${maxEventLines} lines: the rest is in the log artifact`)
        }
      }
      try {
        const token = await options.app.cloneToken(p.installationId, p.repository)
        secrets.push(token, Buffer.from(`x-access-token:${token}`).toString('base64'))
        const home = join(dir, 'home')
        const src = join(dir, 'src')
        await mkdir(home)
        await mkdir(src)
        const baseEnv: Record<string, string> = {
          PATH: envSource.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          HOME: home,
          LANG: 'C.UTF-8',
          CI: 'true',
          OPS_GITHUB_REPOSITORY: p.repository,
          OPS_GITHUB_SHA: p.sha,
          ...(p.ref ? { OPS_GITHUB_REF: p.ref } : {}),
          ...(p.prNumber ? { OPS_GITHUB_PR: String(p.prNumber) } : {}),
        }
        const gitEnv = {
          ...baseEnv,
          GIT_TERMINAL_PROMPT: '0',
          GIT_CONFIG_NOSYSTEM: '1',
          // The token reaches git through its environment only (not argv, not a file).
          GIT_CONFIG_COUNT: '1',
          GIT_CONFIG_KEY_0: 'http.extraHeader',
          GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
        }
        write('ops', `$ git fetch ${p.repository} ${p.sha}`)
        const git = (args: string[]) => exec(ctx, 'git', args, { cwd: src, env: gitEnv }, write, killGraceMs)
        await expectZero(await git(['init', '-q']), 'git init')
        await expectZero(
          await git(['fetch', '-q', '--depth=1', '--no-tags', cloneUrl(p.repository), p.sha]),
          'git fetch',
        )
        await expectZero(await git(['checkout', '-q', '--detach', 'FETCH_HEAD']), 'git checkout')

        const stepEnv: Record<string, string> = { ...baseEnv }
        for (const name of p.step.env) {
          if (p.fork) {
            write('ops', `not passing ${name}: pull requests from forks get no environment variables`)
          } else if (!passEnv.has(name)) {
            write('ops', `not passing ${name}: the worker does not allow it (passEnv)`)
          } else if (envSource[name] !== undefined) {
            stepEnv[name] = envSource[name] as string
            secrets.push(envSource[name] as string)
          }
        }
        for (const [label, command] of [
          ['install', p.step.install],
          [p.step.name, p.step.command],
        ] as const) {
          if (!command) continue
          write('ops', `$ ${command}`)
          const result = await exec(
            ctx,
            '/bin/sh',
            ['-c', command],
            { cwd: src, env: stepEnv },
            write,
            killGraceMs,
          )
          if (result.code !== 0) {
            await uploadLog(ctx, p.step.name, logPath, endLog)
            throw new HandlerError({
              type: 'exit_code',
              message:
                result.code === null
                  ? `${label} was killed by ${result.signal}`
                  : `${label} exited with code ${result.code}`,
              context: { exitCode: result.code, signal: result.signal, step: p.step.name, tail: [...tail] },
              retry: false,
            })
          }
        }
        await uploadLog(ctx, p.step.name, logPath, endLog)
        return { exitCode: 0, durationMs: Math.round(performance.now() - started), lines }
      } catch (err) {
        if (ctx.signal.aborted) {
          await uploadLog(ctx, p.step.name, logPath, endLog).catch(() => {})
          throw ctx.signal.reason
        }
        if (err instanceof HandlerError) throw err
        // Never let a token reach the run's error through a message.
        throw new HandlerError({
          type: 'step_error',
          message: redact(String((err as Error)?.message ?? err)),
        })
      } finally {
        await endLog()
        await rm(dir, { recursive: true, force: true }).catch(() => {})
      }
    },
  })
}

async function expectZero(result: { code: number | null; signal: string | null }, what: string) {
  if (result.code !== 0) {
    throw new HandlerError({
      type: 'checkout_failed',
      message: `${what} failed (${result.code === null ? result.signal : `exit code ${result.code}`})`,
    })
  }
}

/** Runs a program in a process group of its own; resolves with its exit once its pipes are drained. */
function exec(
  ctx: HandlerContext,
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
  write: (stream: 'stdout' | 'stderr', line: string) => void,
  killGraceMs: number,
): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(ctx.signal.reason)
      return
    }
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let killTimer: ReturnType<typeof setTimeout> | undefined
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, signal)
      } catch {
        // The group is already gone.
      }
    }
    const onAbort = () => {
      killGroup('SIGTERM')
      killTimer = setTimeout(() => killGroup('SIGKILL'), killGraceMs)
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    createInterface({ input: child.stdout }).on('line', (line) => write('stdout', line))
    createInterface({ input: child.stderr }).on('line', (line) => write('stderr', line))
    let spawnError: Error | undefined
    child.on('error', (err) => {
      spawnError = err
    })
    child.on('close', (code, signal) => {
      ctx.signal.removeEventListener('abort', onAbort)
      if (killTimer) clearTimeout(killTimer)
      // Nothing the step started outlives it (background servers, stray children).
      killGroup('SIGKILL')
      if (ctx.signal.aborted) reject(ctx.signal.reason)
      else if (spawnError) reject(spawnError)
      else resolve({ code, signal })
    })
  })
}

/** Uploads the log: through the artifact store when the worker has one, else its last MiB as text. */
async function uploadLog(ctx: HandlerContext, name: string, path: string, endLog: () => Promise<void>) {
  await endLog()
  const size = (await stat(path)).size
  const fileName = `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.log`
  try {
    await ctx.artifacts.put({
      name: fileName,
      body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
      contentType: 'text/plain; charset=utf-8',
    })
  } catch (err) {
    if (!/artifact store/.test(String((err as Error)?.message))) throw err
    const text = await readTail(path, size, 1024 * 1024 - 1024)
    await ctx.artifacts.text({ name: fileName, text, contentType: 'text/plain; charset=utf-8' })
  }
}

async function readTail(path: string, size: number, max: number): Promise<string> {
  const start = Math.max(0, size - max)
  const chunks: Buffer[] = []
  for await (const chunk of createReadStream(path, { start })) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return start > 0 ? `… (first ${start} bytes cut)\n${text}` : text
}
