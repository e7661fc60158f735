/**
 * A subcommand of the `ops-control-room` CLI. Each lives in its own file and is listed once in
 * `cli.ts` (`serve` in commands/serve.ts; `dev` in dev/).
 */
export interface CliCommand {
  name: string
  /** One line for `ops-control-room --help`. */
  summary: string
  /** Full usage text for `ops-control-room <name> --help`. */
  usage: string
  /** Runs the command with the arguments after its name; resolves with the exit code (or stays running). */
  run(argv: string[]): Promise<number | undefined>
}

/** Parses `--flag value`, `--flag=value` and boolean `--flag` arguments. */
export function parseFlags(argv: string[]): Record<string, string | true> {
  const flags: Record<string, string | true> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    const eq = arg.indexOf('=')
    if (eq > 0) flags[arg.slice(2, eq)] = arg.slice(eq + 1)
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--'))
      flags[arg.slice(2)] = argv[++i] as string
    else flags[arg.slice(2)] = true
  }
  return flags
}

/** A string flag's value, else the environment variable's (when one is named), else undefined. */
export function flagOrEnv(
  flags: Record<string, string | true>,
  flag: string,
  env?: string,
): string | undefined {
  const value = flags[flag]
  if (typeof value === 'string') return value
  return env === undefined ? undefined : process.env[env]
}
