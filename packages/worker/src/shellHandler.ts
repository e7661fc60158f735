import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { z } from 'zod'
import { defineHandler } from './defineHandler'
import { HandlerError } from './handlerError'

/** Params of a `shell` run. */
export const ShellParams = z.object({
  /** The program to run (looked up on PATH), or with `shell: true` a shell command line. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  cwd: z.string().optional(),
  /** Added to the worker's environment. Secrets belong in the worker's environment, not in params. */
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

/**
 * The built-in `shell` handler, a runbook step: spawns `command` with `args`, `cwd` and `env` in a
 * process group of its own (no shell unless `shell: true`), streams each stdout/stderr line into the
 * run's events (`shell:stdout`, `shell:stderr`), and on cancel or timeout sends SIGTERM to the whole
 * group, then SIGKILL after `killGraceMs`. A non-zero exit fails the run with error type `exit_code`
 * and the code, signal and last stderr lines in its context.
 *
 * @example
 * worker.register(shellHandler)
 * await client.runs.enqueue({ sessionId, runs: [{ kind: 'shell', params: { command: 'make', args: ['test'], cwd: '/srv/app' } }] })
 */
export const shellHandler = defineHandler({
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
      const child = spawn(p.command, p.args, {
        cwd: p.cwd,
        env: { ...process.env, ...p.env },
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

      createInterface({ input: child.stdout }).on('line', (line) => {
        stdoutLines++
        ctx.log.event('shell:stdout', line)
      })
      createInterface({ input: child.stderr }).on('line', (line) => {
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
