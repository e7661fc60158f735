#!/usr/bin/env node
/**
 * The `ops-control-room` CLI. Each subcommand is a CliCommand in a file of its own; to add one,
 * import it and list it in COMMANDS (the `dev` command lives in ./dev/).
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { type CliCommand, CliUsageError, parseFlags } from './cliCommand'
import { migrateCommand } from './commands/migrate'
import { serveCommand } from './commands/serve'
import { devCommand } from './dev/devCommand'

/** Every subcommand, in help order. */
export const COMMANDS: CliCommand[] = [devCommand, serveCommand, migrateCommand]

const help = () =>
  [
    'usage: ops-control-room <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'ops-control-room <command> --help for its options.',
  ].join('\n')

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const about = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined
    console.log(about ? about.usage : help())
    return name ? 0 : 1
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    console.error(`unknown command ${name}\n\n${help()}`)
    return 2
  }
  try {
    const flags = parseFlags(rest, command.options)
    if (flags.help) {
      console.log(command.usage)
      return 0
    }
    return (await command.run(flags)) ?? 0
  } catch (err) {
    if (err instanceof CliUsageError) {
      console.error(`ops-control-room ${name}: ${err.message}\n\n${command.usage}`)
      return 2
    }
    console.error(`ops-control-room ${name}: ${(err as Error).message ?? err}`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code))
}
