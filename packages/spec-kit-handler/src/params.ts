import { z } from 'zod'

/** The four documents of a Spec Kit bundle, in the order a reader takes them. */
export const SPEC_DOCUMENTS = ['constitution', 'prd', 'plan', 'tasks'] as const
/** One of the four documents. */
export type SpecDocument = (typeof SPEC_DOCUMENTS)[number]

/** The file names of a bundle, `spec/<feature>/<name>`. */
export const SPEC_FILES = SPEC_DOCUMENTS.map((d) => `${d}.md`) as readonly string[]

/**
 * A feature slug: lowercase letters, digits and single hyphens, 1–64 characters. This is the whole
 * defence against path traversal, so it admits nothing else: no dots (so no `..`), no slashes or
 * backslashes, no absolute paths, no empty string.
 */
export const FeatureSlug = z
  .string()
  .regex(
    /^[a-z0-9]+(?:-[a-z0-9]+)*$/,
    'a feature is lowercase letters, digits and single hyphens (e.g. "billing-export"): no dots, slashes or spaces',
  )
  .max(64, 'a feature is at most 64 characters')

const BRANCH_RULE =
  'a branch is letters, digits and . _ - /, without "..", "//", "/.", ".lock" segments, a leading "-" or a trailing "/" or "."'

/**
 * A git branch name this handler accepts: a strict subset of what `git check-ref-format` allows. The
 * pattern has no lookaround, so the JSON Schema of the template runs on RE2 (linear time) as the
 * server requires; the rules a pattern without lookaround cannot say are checked in `refine`.
 */
export const BranchName = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9_-])?$/, BRANCH_RULE)
  .refine(
    (b) => !b.includes('..') && !b.includes('//') && !b.includes('/.') && !/\.lock(?:\/|$)/.test(b),
    BRANCH_RULE,
  )

/** Markdown of one document, at most 256 KiB of text. */
const Markdown = z.string().max(262_144, 'a document is at most 256 KiB')

/** Params of a `spec_kit_generate` run. */
export const SpecKitParams = z.strictObject({
  /** The bundle's directory name: files go to `spec/<feature>/`. */
  feature: FeatureSlug,
  title: z.string().trim().min(1).max(200),
  summary: z.string().max(20_000).default(''),
  /** Markdown of the constitution; generated from the inputs when left out. */
  constitution: Markdown.optional(),
  /** Markdown of the product requirements; generated when left out. */
  prd: Markdown.optional(),
  /** Markdown of the plan; generated when left out. */
  plan: Markdown.optional(),
  /** Markdown of the task list; generated when left out. */
  tasks: Markdown.optional(),
  /**
   * Which of the worker's configured repositories to write to (a name from the handler's `repos`
   * option). Never a URL: a run cannot make the worker clone or push anywhere it was not set up for.
   */
  repo: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'a repository is named by its key in the worker configuration',
    )
    .optional(),
  /** The branch to commit on. Default `spec-kit/<feature>`. */
  branch: BranchName.optional(),
  /** Where a new branch starts. Default the remote's default branch. */
  baseBranch: BranchName.optional(),
  /** The commit's subject (and body). The feature and run id are always added as trailers. */
  commitMessage: z.string().trim().min(1).max(4000).optional(),
  /** Push the branch to the remote. Default true. */
  push: z.boolean().default(true),
  /** Open a pull request for the branch (needs the handler's `pullRequests` option). Default false. */
  openPullRequest: z.boolean().default(false),
})
/** Params of a `spec_kit_generate` run, as an enqueuer writes them. */
export type SpecKitParamsInput = z.input<typeof SpecKitParams>
/** Params of a `spec_kit_generate` run, as the handler sees them. */
export type SpecKitParams = z.output<typeof SpecKitParams>
