import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defaultGenerator } from './defaultGenerator'
import { FeatureSlug, SPEC_DOCUMENTS, SPEC_FILES } from './params'
import type { SpecKitGenerator } from './types'

/** What `checkSpecs` found in one `spec/<feature>/` directory. */
export interface BundleReport {
  feature: string
  ok: boolean
  /** Required files that are absent. */
  missing: string[]
  /** Required files that are empty (or only whitespace). */
  empty: string[]
  /** Anything else in the directory: other files, subdirectories, symlinks. */
  extra: string[]
  /** The directory name is not a feature slug. */
  badName?: string
  /** A required file that is a symlink, directory or device instead of a plain file. */
  notFiles: string[]
}

/** What `checkSpecs` found under a root. */
export interface CheckReport {
  ok: boolean
  root: string
  /** Whether `<root>/spec` exists at all. */
  hasSpecDir: boolean
  /** Entries directly under `spec/` that are not directories (a stray `spec/notes.md`). */
  strayFiles: string[]
  features: BundleReport[]
}

/**
 * Checks that every directory under `<root>/spec/` is a Spec Kit bundle: exactly
 * `constitution.md`, `prd.md`, `plan.md` and `tasks.md`, each a non-empty plain file, and nothing
 * else (no extra files, no nested directories). A root without `spec/` passes with no features.
 *
 * @example
 * import { checkSpecs } from '@ops-control-room/spec-kit-handler'
 * const report = await checkSpecs('.')
 * if (!report.ok) process.exitCode = 1
 */
export async function checkSpecs(root: string): Promise<CheckReport> {
  const specDir = join(root, 'spec')
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(specDir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { ok: true, root, hasSpecDir: false, strayFiles: [], features: [] }
    }
    throw err
  }
  const features: BundleReport[] = []
  const strayFiles: string[] = []
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) {
      strayFiles.push(entry.name)
      continue
    }
    const dir = join(specDir, entry.name)
    const present = new Map((await readdir(dir, { withFileTypes: true })).map((e) => [e.name, e]))
    const report: BundleReport = {
      feature: entry.name,
      ok: true,
      missing: [],
      empty: [],
      extra: [],
      notFiles: [],
    }
    if (!FeatureSlug.safeParse(entry.name).success) report.badName = entry.name
    for (const name of SPEC_FILES) {
      const e = present.get(name)
      if (!e) report.missing.push(name)
      else if (!e.isFile()) report.notFiles.push(name)
      else if ((await lstat(join(dir, name))).size === 0 || !/\S/.test(await readSmall(join(dir, name))))
        report.empty.push(name)
    }
    for (const name of present.keys()) if (!SPEC_FILES.includes(name)) report.extra.push(name)
    report.extra.sort()
    report.ok =
      report.missing.length === 0 &&
      report.empty.length === 0 &&
      report.extra.length === 0 &&
      report.notFiles.length === 0 &&
      report.badName === undefined
    features.push(report)
  }
  return {
    ok: strayFiles.length === 0 && features.every((f) => f.ok),
    root,
    hasSpecDir: true,
    strayFiles,
    features,
  }
}

/** Reads the first 64 KiB of a file: enough to tell whether it holds anything but whitespace. */
async function readSmall(path: string): Promise<string> {
  const { open } = await import('node:fs/promises')
  const handle = await open(path, 'r')
  try {
    const buf = Buffer.alloc(65_536)
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0)
    return buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * Scaffolds `spec/<feature>/` under `root` with the generator (default: `defaultGenerator`). Refuses
 * a feature that is not a slug, and a bundle that already exists unless `force`.
 *
 * @returns the four paths written, relative to root
 */
export async function scaffoldBundle(
  root: string,
  feature: string,
  options: { title?: string; summary?: string; force?: boolean; generator?: SpecKitGenerator } = {},
): Promise<string[]> {
  const slug = FeatureSlug.safeParse(feature)
  if (!slug.success) throw new TypeError(`${JSON.stringify(feature)}: ${slug.error.issues[0]?.message}`)
  const dir = join(root, 'spec', feature)
  const exists = await lstat(dir).then(
    () => true,
    () => false,
  )
  if (exists && !options.force) throw new Error(`spec/${feature}/ already exists (use --force to overwrite)`)
  const title = options.title ?? feature.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase())
  const docs = await (options.generator ?? defaultGenerator).generate(
    { feature, title, summary: options.summary ?? '', given: {} },
    { signal: new AbortController().signal },
  )
  await mkdir(dir, { recursive: true })
  const written: string[] = []
  for (const d of SPEC_DOCUMENTS) {
    await writeFile(join(dir, `${d}.md`), docs[d])
    written.push(`spec/${feature}/${d}.md`)
  }
  return written
}
