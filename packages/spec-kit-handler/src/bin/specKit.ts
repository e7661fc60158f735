#!/usr/bin/env node
/**
 * `spec-kit`: checks and scaffolds Spec Kit bundles.
 *
 *   spec-kit check [root] [--json]     every spec/<feature>/ holds exactly constitution.md, prd.md,
 *                                      plan.md and tasks.md, all non-empty; exit 1 on any violation
 *   spec-kit new <feature> [--title T] [--summary S] [--root R] [--force]
 *                                      writes spec/<feature>/ with the default generator
 *
 * Exit codes: 0 ok, 1 a violation, 2 a usage error.
 */
import { parseArgs } from 'node:util'
import { checkSpecs, scaffoldBundle } from '../checkSpecs'

const USAGE = `usage:
  spec-kit check [root] [--json]
  spec-kit new <feature> [--title T] [--summary S] [--root R] [--force]
`

function usage(message?: string): never {
  if (message) process.stderr.write(`spec-kit: ${message}\n`)
  process.stderr.write(USAGE)
  process.exit(2)
}

async function main(argv: string[]) {
  const [command, ...rest] = argv
  if (command === 'check') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { json: { type: 'boolean', default: false } },
      allowPositionals: true,
    })
    if (positionals.length > 1) usage('check takes one root')
    const report = await checkSpecs(positionals[0] ?? '.')
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      if (!report.hasSpecDir)
        process.stdout.write(`no spec/ directory under ${report.root}: nothing to check\n`)
      for (const f of report.features) {
        if (f.ok) {
          process.stdout.write(`ok    spec/${f.feature}/\n`)
          continue
        }
        process.stdout.write(`FAIL  spec/${f.feature}/\n`)
        if (f.badName)
          process.stdout.write('        name is not a feature slug (lowercase letters, digits, hyphens)\n')
        for (const m of f.missing) process.stdout.write(`        missing  ${m}\n`)
        for (const m of f.empty) process.stdout.write(`        empty    ${m}\n`)
        for (const m of f.notFiles) process.stdout.write(`        not a plain file  ${m}\n`)
        for (const m of f.extra) process.stdout.write(`        extra    ${m}\n`)
      }
      for (const s of report.strayFiles)
        process.stdout.write(`FAIL  spec/${s} is a file; spec/ holds only feature directories\n`)
      const bad = report.features.filter((f) => !f.ok).length + report.strayFiles.length
      process.stdout.write(
        report.ok
          ? `${report.features.length} bundle(s) ok\n`
          : `${bad} problem(s) in ${report.features.length} bundle(s)\n`,
      )
    }
    process.exitCode = report.ok ? 0 : 1
    return
  }
  if (command === 'new') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: {
        title: { type: 'string' },
        summary: { type: 'string' },
        root: { type: 'string', default: '.' },
        force: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    })
    const feature = positionals[0]
    if (!feature || positionals.length > 1) usage('new takes one feature name')
    try {
      const written = await scaffoldBundle(values.root ?? '.', feature, {
        ...(values.title ? { title: values.title } : {}),
        ...(values.summary ? { summary: values.summary } : {}),
        force: values.force,
      })
      for (const w of written) process.stdout.write(`wrote ${w}\n`)
    } catch (err) {
      process.stderr.write(`spec-kit: ${(err as Error).message}\n`)
      process.exitCode = err instanceof TypeError ? 2 : 1
    }
    return
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return
  }
  usage(command ? `unknown command ${command}` : undefined)
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`spec-kit: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(
    typeof (err as { code?: unknown }).code === 'string' &&
      (err as { code: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? 2
      : 1,
  )
})
