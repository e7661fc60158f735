import { ValidationError } from '@ops-control-room/core'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

/** Where the pipeline file is read from, at the commit being checked. */
export const PIPELINE_PATH = '.ops/pipeline.yml'

/** Largest pipeline file read, in bytes. */
export const MAX_PIPELINE_BYTES = 64 * 1024

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name')

/** One step of a pipeline: one run, one check run. */
export const PipelineStep = z.strictObject({
  /** The check run's name on GitHub (unique in the pipeline). */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/, 'letters, digits, space, _ . : - (up to 64)'),
  /** A shell command line, run by /bin/sh in the checkout. */
  command: z.string().min(1).max(4000),
  lane: z.enum(['A', 'B', 'C', 'D']).default('B'),
  /** Seconds before the step is killed and its check run ends `timed_out`. */
  timeout: z
    .number()
    .int()
    .min(1)
    .max(6 * 3600)
    .default(900),
  /**
   * Names of environment variables to pass from the worker, among those the worker allows
   * (`passEnv`). Never passed to pull requests from forks.
   */
  env: z.array(envName).max(50).default([]),
})
export type PipelineStep = z.output<typeof PipelineStep>

/** The pipeline file (`.ops/pipeline.yml`). */
export const Pipeline = z
  .strictObject({
    version: z.literal(1).default(1),
    /** A command run before each step's command (e.g. `npm ci`). */
    install: z.string().min(1).max(4000).optional(),
    steps: z.array(PipelineStep).min(1).max(50),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>()
    p.steps.forEach((s, i) => {
      if (s.name === 'pipeline') {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: '"pipeline" is the check run of the file itself',
        })
      }
      if (seen.has(s.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: `duplicate step name "${s.name}"`,
        })
      }
      seen.add(s.name)
    })
  })
export type Pipeline = z.output<typeof Pipeline>

/**
 * The install command of the default pipeline: whichever lockfile the checkout has decides (none:
 * nothing is installed).
 */
export const DEFAULT_INSTALL =
  'if [ -f pnpm-lock.yaml ]; then corepack pnpm install --frozen-lockfile; ' +
  'elif [ -f yarn.lock ]; then corepack yarn install --frozen-lockfile; ' +
  'elif [ -f package-lock.json ]; then npm ci; fi'

/** The scripts of package.json that become the default pipeline's steps, in this order. */
export const DEFAULT_SCRIPTS = ['lint', 'test', 'build'] as const

/**
 * Parses and validates a pipeline file. Throws a ValidationError whose message lists every problem
 * with its path (`steps.1.command: …`), so it can be shown on the failed check run as it is.
 */
export function parsePipeline(text: string): Pipeline {
  if (text.length > MAX_PIPELINE_BYTES) {
    throw new ValidationError(`${PIPELINE_PATH} is larger than ${MAX_PIPELINE_BYTES} bytes`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text, { maxAliasCount: 50 })
  } catch (err) {
    throw new ValidationError(`${PIPELINE_PATH} is not valid YAML: ${(err as Error).message}`)
  }
  const parsed = Pipeline.safeParse(raw)
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `- ${issue.path.length ? issue.path.join('.') : '(file)'}: ${issue.message}`,
    )
    throw new ValidationError(`${PIPELINE_PATH} is invalid:\n${lines.join('\n')}`, {
      details: { issues: parsed.error.issues },
    })
  }
  return parsed.data
}

/**
 * The default pipeline: one step per `lint`, `test` and `build` script of package.json (run with
 * `npm run`), after installing with the lockfile's package manager. No such script: no steps.
 */
export function defaultPipeline(packageJson: string | undefined): Pipeline | undefined {
  if (packageJson === undefined) return undefined
  let scripts: Record<string, unknown> = {}
  try {
    const pkg = JSON.parse(packageJson) as { scripts?: Record<string, unknown> }
    scripts = pkg && typeof pkg.scripts === 'object' && pkg.scripts !== null ? pkg.scripts : {}
  } catch {
    throw new ValidationError('package.json is not valid JSON, and there is no .ops/pipeline.yml')
  }
  const steps = DEFAULT_SCRIPTS.filter((name) => typeof scripts[name] === 'string').map((name) =>
    PipelineStep.parse({ name, command: `npm run ${name}` }),
  )
  if (steps.length === 0) return undefined
  return { version: 1, install: DEFAULT_INSTALL, steps }
}
