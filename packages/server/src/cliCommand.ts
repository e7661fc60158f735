import { type ParseArgsConfig, parseArgs } from 'node:util'

/** The flags a command accepts, in node:util `parseArgs` form. */
export type CliOptions = NonNullable<ParseArgsConfig['options']>

/**
 * A subcommand of the `ops-control-room` CLI. Each lives in its own file and is listed once in
 * `cli.ts` (`serve` in commands/serve.ts; `dev` in dev/).
 */
export interface CliCommand {
  name: string
  /** One line for `ops-control-room --help`. */
  summary: string
  /** Full usage text for `ops-control-room <name> --help` (and after a usage error). */
  usage: string
  /** Its flags, parsed strictly: an unknown or misspelt flag is an error. `--help`/`-h` is implied. */
  options: CliOptions
  /** Runs the command with its parsed flags; resolves with the exit code (or stays running). */
  run(flags: CliFlags): Promise<number | undefined>
}

/** The parsed flags of a command: strings, booleans, or undefined when absent. */
export type CliFlags = Record<string, string | boolean | undefined>

/** Wrong arguments: the CLI prints the message and the command's usage, and exits with 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError'
}

/**
 * Parses `argv` with node:util's `parseArgs` in strict mode (`--flag value`, `--flag=value`, `-h`):
 * unknown flags, missing values and stray arguments are a `CliUsageError`.
 */
export function parseFlags(argv: string[], options: CliOptions): CliFlags {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    })
    return values as CliFlags
  } catch (err) {
    // Node's messages name the flag and the fix ("Unknown option '--prot'. …").
    throw new CliUsageError((err as Error).message)
  }
}

/** A string flag's value, else the environment variable's (when one is named), else undefined. */
export function flagOrEnv(flags: CliFlags, flag: string, env?: string): string | undefined {
  const value = flags[flag]
  if (typeof value === 'string') return value
  return env === undefined ? undefined : process.env[env] || undefined
}

/** A whole number from a flag or variable, or a `CliUsageError` naming it. */
export function intFlag(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || !/^\d+$/.test(value.trim())) {
    throw new CliUsageError(`${name} must be a whole number ≥ ${min}, not "${value}"`)
  }
  return n
}
