import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import { HandlerError } from '@ops-control-room/worker'
import { FeatureSlug, SPEC_DOCUMENTS, SPEC_FILES } from './params'
import type { SpecKitDocuments } from './types'

/** Whether `path` exists, and what it is, without following a symlink. */
async function kindOf(path: string): Promise<'missing' | 'dir' | 'file' | 'other'> {
  try {
    const s = await lstat(path)
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other'
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
    throw err
  }
}

const unsafe = (message: string, context: Record<string, unknown>) =>
  new HandlerError({ type: 'unsafe_path', message, context, retry: false })

/**
 * Writes the four documents to `<checkout>/spec/<feature>/` and removes anything else in that
 * directory, so the bundle is exactly four files. Refuses (a non-retryable `unsafe_path` error)
 * when the feature is not a slug, or when `spec`, `spec/<feature>` or one of its files is a symlink
 * or anything but a plain directory/file — a repository's content must not redirect a write outside
 * the checkout. Returns the files removed.
 */
export async function writeBundle(
  checkout: string,
  feature: string,
  docs: SpecKitDocuments,
): Promise<string[]> {
  // The schema already admitted only slugs; this second check keeps the function safe on its own.
  if (!FeatureSlug.safeParse(feature).success)
    throw unsafe(`feature ${JSON.stringify(feature)} is not a slug`, {})
  const root = resolve(checkout)
  const featureDir = resolve(root, 'spec', feature)
  if (
    !featureDir.startsWith(`${root}${sep}spec${sep}`) ||
    relative(join(root, 'spec'), featureDir) !== feature
  ) {
    throw unsafe(`feature ${feature} resolves outside spec/`, { feature })
  }
  for (const dir of [join(root, 'spec'), featureDir]) {
    const kind = await kindOf(dir)
    if (kind === 'missing') await mkdir(dir)
    else if (kind !== 'dir') {
      throw unsafe(
        `${relative(root, dir)} in the repository is not a plain directory (a symlink?); refusing to write through it`,
        {
          path: relative(root, dir),
        },
      )
    }
  }
  const removed: string[] = []
  for (const entry of await readdir(featureDir)) {
    if (SPEC_FILES.includes(entry)) continue
    await rm(join(featureDir, entry), { recursive: true, force: true })
    removed.push(`spec/${feature}/${entry}`)
  }
  for (const doc of SPEC_DOCUMENTS) {
    const target = join(featureDir, `${doc}.md`)
    const kind = await kindOf(target)
    if (kind !== 'missing' && kind !== 'file') {
      throw unsafe(`spec/${feature}/${doc}.md in the repository is not a plain file (a symlink?)`, {
        path: `spec/${feature}/${doc}.md`,
      })
    }
    await writeFile(target, docs[doc], { mode: 0o644 })
  }
  return removed
}
