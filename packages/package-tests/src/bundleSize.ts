import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/**
 * What a browser downloads: the HTTP client entry of `@ops-control-room/core` bundled as an app would
 * (esbuild, minified, from the built `dist` through the package's `exports`), and the Runboard example
 * as `vite build` makes it. Sizes depend only on the sources and the lockfile: budgets on them are
 * deterministic (`test/packages.test.ts`). Print them: `pnpm --filter @ops-control-room/package-tests size`.
 */

const root = fileURLToPath(new URL('../../..', import.meta.url))
const run = promisify(execFile)

export interface BundleSize {
  /** Minified bytes. */
  min: number
  /** The minified bundle gzipped (level 9). */
  gzip: number
  /** Minified bytes per npm package in the bundle (`(own)` for the workspace's sources). */
  byPackage: Record<string, number>
}

/** The browser entry a web app imports: a client over the executor API, and its artifact store. */
export const CLIENT_ENTRY = `
import { createOpsClient, httpArtifactStore, httpBackend } from '@ops-control-room/core/client'
const url = '/api'
const token = () => 'jwt'
export const client = createOpsClient({ backend: httpBackend({ url, token }) })
export const store = httpArtifactStore({ url, token })
`

function packageOf(path: string): string {
  const m = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\/(?!.*node_modules\/)/.exec(path)
  return m?.[1] ?? '(own)'
}

/** Bundles `source` (an ES module) for browsers, resolving imports from `resolveDir`. */
export async function measureBundle(source: string, resolveDir: string): Promise<BundleSize> {
  const result = await build({
    stdin: { contents: source, resolveDir, loader: 'js' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    outfile: 'bundle.js',
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]?.contents ?? new Uint8Array()
  const byPackage: Record<string, number> = {}
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const name = packageOf(path)
      byPackage[name] = (byPackage[name] ?? 0) + input.bytesInOutput
    }
  }
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length, byPackage }
}

/** The client entry, bundled from the built `@ops-control-room/core` (run its build first). */
export function measureClientEntry(): Promise<BundleSize> {
  return measureBundle(CLIENT_ENTRY, join(root, 'packages/package-tests'))
}

export interface RunboardSize {
  /** The JavaScript assets, minified, as served. */
  min: number
  gzip: number
  /** Whether any asset holds zod (its schemas carry a `_zod` property, which minifiers keep). */
  hasZod: boolean
  /** Whether any asset holds re2js (the lazily loaded params validator should). */
  hasRe2: boolean
  /** The entry chunk that `index.html` loads first (what a visitor waits for). */
  first: { min: number; gzip: number; hasRe2: boolean }
}

/** A message re2js throws on a bad pattern: minifiers keep strings, so it marks re2js's code. */
const RE2_MARK = 'missing argument to repetition operator'

/** Builds the Runboard example with its own `vite build` into a temporary folder and measures it. */
export async function measureRunboard(): Promise<RunboardSize> {
  const outDir = await mkdtemp(join(tmpdir(), 'ops-runboard-size-'))
  try {
    await run('pnpm', ['exec', 'vite', 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], {
      cwd: join(root, 'examples/runboard'),
      // A production build whoever runs it (vitest sets NODE_ENV=test: React's development build).
      env: { ...process.env, NODE_ENV: 'production' },
      maxBuffer: 16 * 1024 * 1024,
    })
    const assets = join(outDir, 'assets')
    const files = (await readdir(assets)).filter((f) => f.endsWith('.js'))
    const html = await readFile(join(outDir, 'index.html'), 'utf8')
    const entry = /<script[^>]+src="[^"]*\/assets\/([^"/]+\.js)"/.exec(html)?.[1]
    const size: RunboardSize = {
      min: 0,
      gzip: 0,
      hasZod: false,
      hasRe2: false,
      first: { min: 0, gzip: 0, hasRe2: false },
    }
    for (const f of files) {
      const code = await readFile(join(assets, f))
      size.min += code.length
      size.gzip += gzipSync(code, { level: 9 }).length
      if (code.includes('._zod')) size.hasZod = true
      if (code.includes(RE2_MARK)) size.hasRe2 = true
      if (f === entry) {
        size.first = {
          min: code.length,
          gzip: gzipSync(code, { level: 9 }).length,
          hasRe2: code.includes(RE2_MARK),
        }
      }
    }
    if (!entry || size.first.min === 0)
      throw new Error('the Runboard build has no entry script in index.html')
    return size
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const client = await measureClientEntry()
  console.log(`client entry (@ops-control-room/core/client): ${kb(client.min)} min, ${kb(client.gzip)} gzip`)
  for (const [name, bytes] of Object.entries(client.byPackage).sort((a, b) => b[1] - a[1]))
    console.log(`  ${name}: ${kb(bytes)}`)
  const board = await measureRunboard()
  console.log(
    `Runboard (vite build): ${kb(board.min)} min, ${kb(board.gzip)} gzip${board.hasZod ? ', HOLDS ZOD' : ''}; first load ${kb(board.first.min)} min, ${kb(board.first.gzip)} gzip${board.first.hasRe2 ? ', holds RE2' : ''}`,
  )
}
