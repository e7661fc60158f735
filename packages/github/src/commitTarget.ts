import { z } from 'zod'

/** The run kind that reads a commit's pipeline and enqueues its steps. */
export const PIPELINE_KIND = 'github_pipeline'
/** The run kind of one pipeline step. */
export const STEP_KIND = 'github_step'

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-character commit sha')

/**
 * Which commit a run checks and where its result goes: carried in the params of every
 * `github_pipeline` and `github_step` run (never a secret: tokens are minted by the worker).
 */
export const CommitTarget = z.object({
  /** `owner/name`. */
  repository: z.string().regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, 'owner/name'),
  installationId: z.number().int().positive(),
  sha,
  /** The branch (`refs/heads/…`), when known. */
  ref: z.string().max(300).optional(),
  prNumber: z.number().int().positive().optional(),
  /** A pull request from a fork: no environment variables are passed to its steps. */
  fork: z.boolean().default(false),
  deliveryId: z.string().min(1).max(200),
  /** `pull_request`, `push`, `check_suite`, `check_run`, `pull_request_review`. */
  trigger: z.string().min(1).max(50),
})
export type CommitTarget = z.output<typeof CommitTarget>
