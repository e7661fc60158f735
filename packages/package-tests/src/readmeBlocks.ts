import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * How a README code block is tested, from its info string (the words after the opening fence):
 *
 * - ` ```ts `, ` ```tsx `: type-checked as an ES module, strict, against the packages' sources.
 * - ` ```ts run `: type-checked, then run as a process with `DATABASE_URL` set to a fresh, migrated
 *   PostgreSQL database. It passes when it exits 0 (or is still running once every run it enqueued
 *   has settled) and no run in the database failed.
 * - ` ```ts check `: type-checked only; says so explicitly (the same as no word).
 * - ` ```sh `: parsed by `bash -n`; `pnpm <script>` must name a root script, `pnpm add` must name
 *   packages the workspace publishes or depends on, and `npx <bin>` a bin one of them ships.
 *
 * Other languages (`css`, `text`, none) are prose, not code, and are not tested.
 */
export type BlockMode = 'check' | 'run' | 'shell'

export interface ReadmeBlock {
  /** README path relative to the repository root. */
  readme: string
  /** 1-based line of the block's first line of code. */
  line: number
  lang: 'ts' | 'tsx' | 'sh'
  mode: BlockMode
  code: string
}

const LANGS: Record<string, ReadmeBlock['lang']> = {
  ts: 'ts',
  typescript: 'ts',
  tsx: 'tsx',
  sh: 'sh',
  bash: 'sh',
  shell: 'sh',
}

/** The tested code blocks of one markdown text. Throws on an unknown mode word of a tested block. */
export function extractBlocks(markdown: string, readme: string): ReadmeBlock[] {
  const lines = markdown.split(/\r?\n/)
  const blocks: ReadmeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(lines[i] ?? '')
    if (!open) continue
    const fence = open[1] as string
    const lang = LANGS[(open[2] ?? '').toLowerCase()]
    const words = (open[3] ?? '').split(/\s+/).filter(Boolean)
    const start = i + 1
    let end = start
    const closing = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`)
    while (end < lines.length && !closing.test(lines[end] ?? '')) end++
    i = end
    if (!lang) continue
    const code = lines.slice(start, end).join('\n')
    if (lang === 'sh') {
      blocks.push({ readme, line: start + 1, lang, mode: 'shell', code })
      continue
    }
    const unknown = words.filter((w) => w !== 'run' && w !== 'check')
    if (unknown.length > 0) {
      throw new TypeError(
        `${readme}:${start}: unknown word "${unknown[0]}" after \`\`\`${open[2]} (use "run" or "check")`,
      )
    }
    blocks.push({ readme, line: start + 1, lang, mode: words.includes('run') ? 'run' : 'check', code })
  }
  return blocks
}

const SKIP = new Set(['node_modules', 'dist', '.git', '.ops-data', 'coverage', 'test-results', '.blocks'])

/** Every README.md under `root` (outside dependencies and build output), sorted. */
export function findReadmes(root: string): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIP.has(entry.name) && !entry.name.startsWith('.')) walk(join(dir, entry.name))
      } else if (entry.name === 'README.md') {
        found.push(relative(root, join(dir, entry.name)))
      }
    }
  }
  walk(root)
  return found.sort()
}

/** The tested blocks of every README under `root`. */
export function readmeBlocks(root: string): ReadmeBlock[] {
  return findReadmes(root).flatMap((readme) =>
    extractBlocks(readFileSync(join(root, readme), 'utf8'), readme),
  )
}

/**
 * The commands of a shell block, one per simple command: continuation lines joined, comments and
 * leading `VAR=value` assignments removed, split on `&&`, `||`, `;` and `|`.
 */
export function shellCommands(code: string): string[][] {
  const joined = code.replace(/\\\n/g, ' ')
  const commands: string[][] = []
  for (const rawLine of joined.split('\n')) {
    const line = rawLine.replace(/(^|\s)#.*$/, '')
    for (const part of line.split(/&&|\|\||;|\|/)) {
      const words = part.trim().split(/\s+/).filter(Boolean)
      while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] as string)) words.shift()
      if (words.length > 0) commands.push(words)
    }
  }
  return commands
}
