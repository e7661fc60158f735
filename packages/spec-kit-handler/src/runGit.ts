import { spawn } from 'node:child_process'
import { HandlerError } from '@ops-control-room/worker'

/** How `runGit` runs one git command. */
export interface RunGitOptions {
  binary: string
  cwd: string
  env: NodeJS.ProcessEnv
  signal: AbortSignal
  killGraceMs: number
  /** Strings scrubbed from any output that reaches an error (tokens, credentials). */
  redact: readonly string[]
  /** Bytes written to stdin. */
  input?: string
}

/** What a git command printed. */
export interface GitOutput {
  stdout: string
  stderr: string
  code: number
}

const MAX_OUTPUT = 1 << 20

/** Replaces every secret in `text` with `***`. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  return out
}

/**
 * Runs `git <args>` in a process group of its own. On abort the whole group gets SIGTERM, then
 * SIGKILL after `killGraceMs` (git spawns helpers — `remote-https`, `receive-pack`, ssh, hooks — that
 * a kill of git alone would orphan), and the promise rejects with the signal's reason once the group's
 * leader has exited. A non-zero exit rejects with a HandlerError of type `git` whose message and
 * context hold the command and its redacted stderr; `allowFail` codes resolve instead.
 */
export function runGit(args: readonly string[], o: RunGitOptions, allowFail = false): Promise<GitOutput> {
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) {
      reject(o.signal.reason)
      return
    }
    const child = spawn(o.binary, args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (o.input !== undefined) child.stdin?.end(o.input)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (b: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += b.toString('utf8')
    })
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += b.toString('utf8')
    })
    let killTimer: ReturnType<typeof setTimeout> | undefined
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, sig)
      } catch {
        // Already gone.
      }
    }
    const onAbort = () => {
      killGroup('SIGTERM')
      killTimer = setTimeout(() => killGroup('SIGKILL'), o.killGraceMs)
    }
    o.signal.addEventListener('abort', onAbort, { once: true })
    let spawnError: Error | undefined
    child.on('error', (err) => {
      spawnError = err
    })
    child.on('close', (code, sig) => {
      o.signal.removeEventListener('abort', onAbort)
      if (killTimer) clearTimeout(killTimer)
      if (o.signal.aborted) {
        // Whatever the leader did on SIGTERM, nothing of its group outlives the run.
        killGroup('SIGKILL')
        reject(o.signal.reason)
        return
      }
      const command = `git ${args[0] ?? ''}`
      if (spawnError) {
        reject(
          new HandlerError({
            type: 'git_unavailable',
            message: `could not start ${o.binary}: ${spawnError.message}`,
            retry: false,
            cause: spawnError,
          }),
        )
        return
      }
      if (code === 0 || allowFail) {
        resolve({ stdout, stderr, code: code ?? -1 })
        return
      }
      const tail = redactText(stderr.trim(), o.redact).split('\n').slice(-20).join('\n')
      reject(
        new HandlerError({
          type: 'git',
          message: `${command} ${code === null ? `was killed by ${sig}` : `exited with code ${code}`}: ${tail.split('\n').at(-1) ?? ''}`,
          context: {
            args: args.map((a) => redactText(a, o.redact)),
            exitCode: code,
            signal: sig,
            stderr: tail,
          },
        }),
      )
    })
  })
}
