import { describe, expect, it } from 'vitest'
import { extractBlocks, shellCommands } from './readmeBlocks'

describe('extractBlocks', () => {
  it('reads the language and mode of each fence and skips prose languages', () => {
    const md = [
      '# T',
      '```ts run',
      'await 1',
      '```',
      '````tsx',
      'const a = <b />',
      '```',
      '````',
      '```css',
      'a {}',
      '```',
      '~~~bash',
      'pnpm test',
      '~~~',
      '```',
      'plain',
      '```',
    ].join('\n')
    expect(extractBlocks(md, 'R.md')).toEqual([
      { readme: 'R.md', line: 3, lang: 'ts', mode: 'run', code: 'await 1' },
      { readme: 'R.md', line: 6, lang: 'tsx', mode: 'check', code: 'const a = <b />\n```' },
      { readme: 'R.md', line: 13, lang: 'sh', mode: 'shell', code: 'pnpm test' },
    ])
  })

  it('refuses an unknown mode word, naming the place', () => {
    expect(() => extractBlocks('x\n```ts runn\n1\n```', 'R.md')).toThrow(/R\.md:2: unknown word "runn"/)
  })
})

describe('shellCommands', () => {
  it('splits commands and drops comments and assignments', () => {
    expect(shellCommands('A=1 B=2 \\\n  npx tool --x # note\npnpm i && pnpm start; echo "a" | cat')).toEqual([
      ['npx', 'tool', '--x'],
      ['pnpm', 'i'],
      ['pnpm', 'start'],
      ['echo', '"a"'],
      ['cat'],
    ])
  })
})
