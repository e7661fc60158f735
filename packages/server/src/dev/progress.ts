/**
 * Terminal progress for `ops-control-room dev`: one line per step with its duration, so a slow
 * first start (initialising PostgreSQL) never looks like a hang.
 */
export interface Progress {
  /** Starts a step; returns a function that ends it with an optional detail. */
  step(label: string): (detail?: string) => void
  info(message: string): void
  fail(message: string): void
}

/**
 * Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM is
 * `dumb`; FORCE_COLOR (non-empty, not 0) turns them on anywhere.
 */
export function wantsColor(out: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  return 'isTTY' in out && (out as { isTTY?: boolean }).isTTY === true
}

export function createProgress(out: NodeJS.WritableStream = process.stdout): Progress {
  const colored = wantsColor(out)
  const color = (code: number, s: string) => (colored ? `\u001b[${code}m${s}\u001b[0m` : s)
  return {
    step(label) {
      const started = performance.now()
      out.write(`${color(36, '…')} ${label}\n`)
      return (detail) => {
        const ms = Math.round(performance.now() - started)
        out.write(`${color(32, '✓')} ${label}${detail ? ` — ${detail}` : ''} ${color(90, `(${ms} ms)`)}\n`)
      }
    },
    info(message) {
      out.write(`  ${message}\n`)
    },
    fail(message) {
      out.write(`${color(31, '✗')} ${message}\n`)
    },
  }
}
