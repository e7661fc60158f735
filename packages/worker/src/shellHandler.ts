import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { findSecret } from '@ops-control-room/core'
import { z } from 'zod'
import { defineHandler } from './defineHandler'
import { HandlerError } from './handlerError'

/** Params of a `shell` run. */
export const ShellParams = z.object({
  /** The program to run (looked up on PATH), or with `shell: true` a shell command line. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  cwd: z.string().optional(),
  /**
   * Variables for the command, on top of the few the worker passes on (see `ShellHandlerOptions`).
   * Nothing else of the worker's environment reaches the command. Never put secrets here: params are
   * stored and shown in plain text.
   */
  env: z.record(z.string(), z.string()).default({}),
  /** Run `command` through /bin/sh. Off by default: arguments are never re-parsed by a shell. */
  shell: z.boolean().default(false),
  /** After SIGTERM to the process group, wait this long before SIGKILL. Default 5000. */
  killGraceMs: z.number().int().min(0).max(600_000).default(5000),
})
export type ShellParams = z.input<typeof ShellParams>

/** What a successful `shell` run returns. */
export interface ShellResult {
  exitCode: 0
  durationMs: number
  stdoutLines: number
  stderrLines: number
}

const TAIL = 20

/** What the command inherits from the worker unless told otherwise: nothing that can be a secret. */
export const DEFAULT_SHELL_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'TERM',
]

/** How a worker's `shell` handler treats the worker's own environment. */
export interface ShellHandlerOptions {
  /**
   * Names of the worker's environment variables the command inherits. Default `DEFAULT_SHELL_ENV`
   * (PATH, HOME, locale, TZ, TMPDIR, TERM): `DATABASE_URL`, keys and tokens never reach a command
   * unless named here.
   */
  inheritEnv?: readonly string[]
  /** The worker's environment, for tests (default `process.env`). */
  workerEnv?: Readonly<Record<string, string | undefined>>
  /** More values to blank out of the command's output, besides the worker's secret-looking variables. */
  redact?: readonly string[]
}

// Variable names whose values are the worker's secrets (after normalising case and separators).
const SECRET_NAME =
  /(^|_)(password|passwd|pass|pwd|secret|token|key|credentials?|auth|dsn|private|cookie|session|signature)($|_)|(database|db|postgres|pg|redis|mongo|amqp|broker)_?url$/

/**
 * The values to blank out of a command's output: those of the worker's variables whose names or
 * values look like credentials (`DATABASE_URL`, `*_TOKEN`, `*_KEY`, a URL with a password, a JWT…),
 * plus the password part of any URL among them. Short values (< 6 characters) are left alone: they
 * would blank out ordinary words.
 */
export function secretValuesOf(
  env: Readonly<Record<string, string | undefined>>,
  extra: readonly string[] = [],
): string[] {
  const out = new Set<string>()
  for (const [name, value] of Object.entries(env)) {
    if (!value || name === 'PWD' || name === 'OLDPWD') continue
    const normal = name.toLowerCase().replace(/[^a-z0-9]+/g, '_')
    if (SECRET_NAME.test(normal) || findSecret({ [name]: value }) !== undefined) out.add(value)
    const url = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:([^/\s@]+)@/i.exec(value)
    if (url?.[1]) {
      out.add(url[1])
      try {
        out.add(decodeURIComponent(url[1]))
      } catch {
        // Not percent-encoded.
      }
    }
  }
  for (const v of extra) out.add(v)
  // Longest first, so a value that contains another is blanked out whole.
  return [...out].filter((v) => v.length >= 6).sort((a, b) => b.length - a.length)
}

/** A function that replaces every secret value in a line with `[redacted]`. */
function redactor(secrets: readonly string[]): (line: string) => string {
  if (secrets.length === 0) return (line) => line
  return (line) => {
    let out = line
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]')
    return out
  }
}

/**
 * Creates the `shell` handler, a runbook step: spawns `command` with `args`, `cwd` and `env` in a
 * process group of its own (no shell unless `shell: true`), streams each stdout/stderr line into the
 * run's events (`shell:stdout`, `shell:stderr`), and on cancel or timeout sends SIGTERM to the whole
 * group, then SIGKILL after `killGraceMs`. A non-zero exit fails the run with error type `exit_code`
 * and the code, signal and last stderr lines in its context.
 *
 * The command's environment is an allow-list: the variables named by `inheritEnv` plus the run's
 * `env` param, nothing else of the worker's. Output lines that contain the worker's secret values
 * are redacted before they become events. A command that runs as the worker's user can still read
 * the worker's memory or `/proc/<pid>/environ`: let only trusted roles enqueue `shell` (see "Who may
 * run what" in the README), or run the worker as a user that owns no secrets.
 *
 * @example
 * worker.register(createShellHandler({ inheritEnv: [...DEFAULT_SHELL_ENV, 'AWS_REGION'] }))
 */
export function createShellHandler(options: ShellHandlerOptions = {}) {
  const inherit = options.inheritEnv ?? DEFAULT_SHELL_ENV
  const workerEnv = options.workerEnv ?? process.env
  return defineHandler({
    kind: 'shell',
    description:
      'Runs a command with args, cwd and env; streams its output; kills its process group on cancel.',
    input: ShellParams,
    run: (ctx) =>
      new Promise<ShellResult>((resolve, reject) => {
        const p = ctx.params
        const started = performance.now()
        if (ctx.signal.aborted) {
          reject(ctx.signal.reason)
          return
        }
        const base: Record<string, string> = {}
        for (const name of inherit) {
          const v = workerEnv[name]
          if (v !== undefined) base[name] = v
        }
        // Computed per run: the worker's environment may change while it runs.
        const redact = redactor(secretValuesOf(workerEnv, options.redact))
        const child = spawn(p.command, p.args, {
          cwd: p.cwd,
          env: { ...base, ...p.env },
          shell: p.shell,
          // A group of its own, so cancel reaches every descendant, not just the direct child.
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stdoutLines = 0
        let stderrLines = 0
        const stderrTail: string[] = []
        let killTimer: ReturnType<typeof setTimeout> | undefined
        let spawnError: Error | undefined

        const killGroup = (signal: NodeJS.Signals) => {
          if (child.pid === undefined) return
          try {
            process.kill(-child.pid, signal)
          } catch {
            // The group is already gone.
          }
        }
        const onAbort = () => {
          ctx.log.event('shell:kill', `sending SIGTERM to process group ${child.pid}`, { level: 'warn' })
          killGroup('SIGTERM')
          killTimer = setTimeout(() => {
            ctx.log.event('shell:kill', `sending SIGKILL to process group ${child.pid}`, { level: 'warn' })
            killGroup('SIGKILL')
          }, p.killGraceMs)
        }
        ctx.signal.addEventListener('abort', onAbort, { once: true })

        createInterface({ input: child.stdout }).on('line', (raw) => {
          const line = redact(raw)
          stdoutLines++
          ctx.log.event('shell:stdout', line)
        })
        createInterface({ input: child.stderr }).on('line', (raw) => {
          const line = redact(raw)
          stderrLines++
          stderrTail.push(line)
          if (stderrTail.length > TAIL) stderrTail.shift()
          ctx.log.event('shell:stderr', line, { level: 'warn' })
        })
        child.on('error', (err) => {
          spawnError = err
        })
        // 'close' waits for the pipes too, so lines written just before exit are not lost.
        child.on('close', (code, signal) => {
          ctx.signal.removeEventListener('abort', onAbort)
          if (ctx.signal.aborted) {
            // Whatever the leader did, make sure nothing of the group outlives the run.
            killGroup('SIGKILL')
            if (killTimer) clearTimeout(killTimer)
            reject(ctx.signal.reason)
            return
          }
          if (killTimer) clearTimeout(killTimer)
          const durationMs = Math.round(performance.now() - started)
          if (spawnError) {
            reject(
              new HandlerError({
                type: 'spawn_error',
                message: `could not start ${p.command}: ${spawnError.message}`,
                context: {
                  command: p.command,
                  args: p.args,
                  cwd: p.cwd,
                  code: (spawnError as { code?: string }).code,
                },
                retry: false,
                cause: spawnError,
              }),
            )
          } else if (code === 0) {
            resolve({ exitCode: 0, durationMs, stdoutLines, stderrLines })
          } else {
            reject(
              new HandlerError({
                type: 'exit_code',
                message:
                  code === null
                    ? `${p.command} was killed by ${signal}`
                    : `${p.command} exited with code ${code}`,
                context: { exitCode: code, signal, command: p.command, args: p.args, durationMs, stderrTail },
              }),
            )
          }
        })
      }),
  })
}

/** The `shell` handler with the default environment allow-list (`createShellHandler()`). */
export const shellHandler = createShellHandler()
