import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createTestDatabase, type TestDatabase } from '@ops-control-room/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReadmeBlock, readmeBlocks, shellCommands } from '../src/readmeBlocks'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../..', import.meta.url))
const here = fileURLToPath(new URL('..', import.meta.url))
const blocksDir = join(here, '.blocks')
const blocks = readmeBlocks(root)
const code = blocks.filter((b) => b.mode !== 'shell')
const fileOf = (b: ReadmeBlock) =>
  `${b.readme.replace(/README\.md$/, '').replace(/[^A-Za-z0-9]+/g, '_') || 'root_'}L${b.line}.${b.lang}`

/** Diagnostics of one `tsc` over every block, by block file name. */
const diagnostics = new Map<string, string[]>()

beforeAll(async () => {
  rmSync(blocksDir, { recursive: true, force: true })
  mkdirSync(blocksDir, { recursive: true })
  for (const b of code) writeFileSync(join(blocksDir, fileOf(b)), `${b.code}\nexport {}\n`)
  // A user's project: strict, ES modules, side-effect imports (the stylesheet) must resolve.
  writeFileSync(
    join(blocksDir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../tsconfig.base.json',
      compilerOptions: {
        noEmit: true,
        baseUrl: '../../..',
        noUncheckedSideEffectImports: true,
        paths: {
          '@ops-control-room/core': ['packages/core/src/index.ts'],
          '@ops-control-room/core/postgres': ['packages/core/src/postgres.ts'],
          '@ops-control-room/core/client': ['packages/core/src/clientEntry.ts'],
          '@ops-control-room/core/params': ['packages/core/src/paramsEntry.ts'],
          '@ops-control-room/worker': ['packages/worker/src/index.ts'],
          '@ops-control-room/server': ['packages/server/src/index.ts'],
          '@ops-control-room/react': ['packages/react/src/index.ts'],
          '@ops-control-room/spec-kit-handler': ['packages/spec-kit-handler/src/index.ts'],
          '@ops-control-room/github': ['packages/github/src/index.ts'],
          '@ops-control-room/github/webhook': ['packages/github/src/webhook.ts'],
          '@ops-control-room/react/styles.css': ['packages/react/styles.css.d.cts'],
        },
      },
      include: ['*.ts', '*.tsx'],
    }),
  )
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const out = await run(
    process.execPath,
    [tsc, '-p', join(blocksDir, 'tsconfig.json'), '--pretty', 'false'],
    {
      cwd: blocksDir,
      maxBuffer: 16 * 1024 * 1024,
    },
  ).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? String(err),
  )
  for (const line of out.split('\n')) {
    const m = /([^/\\(]+\.tsx?)\((\d+),\d+\): (error .*)$/.exec(line)
    if (!m) continue
    const list = diagnostics.get(m[1] as string) ?? []
    list.push(`line ${m[2]} of the block: ${m[3]}`)
    diagnostics.set(m[1] as string, list)
  }
}, 180_000)

describe('every README code block', () => {
  it('found the READMEs and their blocks', () => {
    const readmes = new Set(blocks.map((b) => b.readme))
    expect([...readmes]).toEqual(expect.arrayContaining(['README.md', 'packages/core/README.md']))
    expect(blocks.some((b) => b.mode === 'run')).toBe(true)
  })

  for (const b of code) {
    it(`${b.readme}:${b.line} (${b.lang}${b.mode === 'run' ? ' run' : ''}) type-checks`, () => {
      expect(diagnostics.get(fileOf(b)) ?? []).toEqual([])
    })
  }
})

describe('runnable README blocks against a real PostgreSQL', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(() => db?.drop())

  for (const b of code.filter((b) => b.mode === 'run')) {
    it(`${b.readme}:${b.line} runs, and no run it enqueued fails`, async () => {
      const sql = postgres(db.url, { max: 1, onnotice: () => {} })
      try {
        await sql`truncate ops.sessions cascade`
        const child = spawn(process.execPath, ['--import', 'tsx', join(blocksDir, fileOf(b))], {
          cwd: here,
          env: { ...process.env, DATABASE_URL: db.url, NO_COLOR: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let output = ''
        child.stdout?.on('data', (d) => (output += d))
        child.stderr?.on('data', (d) => (output += d))
        const exit = settleOrExit(child, sql)
        const result = await exit
        const runs = await sql<{ kind: string; status: string; error: unknown }[]>`
          select kind, status::text, error from ops.runs order by created_at`
        expect(
          { exit: result, failed: runs.filter((r) => r.status === 'failed') },
          `output of the block:\n${output}`,
        ).toEqual({ exit: 'ok', failed: [] })
        expect(runs.length, 'the block enqueued runs').toBeGreaterThan(0)
      } finally {
        await sql.end()
      }
    })
  }
})

/**
 * Resolves 'ok' when the block exits 0, or when it keeps running (a worker) and every run in the
 * database has settled, in which case it is stopped with SIGTERM; otherwise a description.
 */
function settleOrExit(child: ChildProcess, sql: postgres.Sql): Promise<string> {
  return new Promise((resolve) => {
    let done = false
    const deadline = Date.now() + 90_000
    child.on('exit', (code, signal) => {
      if (done) return
      done = true
      resolve(code === 0 ? 'ok' : `exited with ${code ?? signal}`)
    })
    const poll = async () => {
      if (done) return
      const [row] = await sql<{ total: number; open: number }[]>`
        select count(*)::int as total,
               count(*) filter (where status in ('queued', 'running'))::int as open
          from ops.runs`
      if (done) return
      if (row && row.total > 0 && row.open === 0) {
        done = true
        child.once('exit', () => resolve('ok'))
        child.kill('SIGTERM')
      } else if (Date.now() > deadline) {
        done = true
        child.kill('SIGKILL')
        resolve(`still running after 90 s with ${row?.open} open run(s)`)
      } else {
        setTimeout(poll, 200)
      }
    }
    setTimeout(poll, 200)
  })
}

describe('README shell blocks', () => {
  const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const workspace = ['core', 'worker', 'server', 'react', 'spec-kit-handler', 'github'].map((p) =>
    JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8')),
  )
  const published = new Set(workspace.map((p) => p.name as string))
  const known = new Set(
    workspace.flatMap((p) => [
      ...Object.keys(p.dependencies ?? {}),
      ...Object.keys(p.peerDependencies ?? {}),
    ]),
  )
  const bins = new Set(workspace.flatMap((p) => Object.keys(p.bin ?? {})))
  // pnpm's own commands; anything else after `pnpm` is a root script.
  const pnpmCommands = new Set([
    'install',
    'i',
    'add',
    'exec',
    'dlx',
    'run',
    '--filter',
    '-r',
    '-C',
    'why',
    'up',
  ])

  for (const b of blocks.filter((b) => b.mode === 'shell')) {
    it(`${b.readme}:${b.line} (sh) parses and names what exists`, async () => {
      await run('bash', ['-n', '-c', b.code])
      const problems: string[] = []
      for (const [cmd, sub, ...rest] of shellCommands(b.code)) {
        if (cmd === 'pnpm' && sub === 'add') {
          for (const name of rest.filter((w) => !w.startsWith('-'))) {
            const bare = name.replace(/(.)@.*$/, '$1')
            if (!published.has(bare) && !known.has(bare))
              problems.push(`pnpm add ${name}: not a package we use`)
          }
        } else if (cmd === 'pnpm' && sub && !pnpmCommands.has(sub) && !rootPackage.scripts?.[sub]) {
          problems.push(`pnpm ${sub}: no such root script`)
        } else if (cmd === 'npx' && (sub === '-p' || sub === '--package')) {
          // `npx -p <package> <bin>`: the package must be ours, and ship that bin.
          const [pkgName, binName] = rest
          const bare = (pkgName ?? '').replace(/(.)@.*$/, '$1')
          const shipped = workspace.find((p) => p.name === bare)
          if (!shipped) problems.push(`npx -p ${pkgName}: not a package we publish`)
          else if (!binName || !Object.keys(shipped.bin ?? {}).includes(binName))
            problems.push(`npx -p ${pkgName} ${binName}: that package ships no such bin`)
        } else if (cmd === 'npx' && sub && !sub.includes('@') && !bins.has(sub)) {
          problems.push(`npx ${sub}: no package ships that bin`)
        }
      }
      expect(problems).toEqual([])
    })
  }
})
