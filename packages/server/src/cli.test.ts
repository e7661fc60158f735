import { afterEach, describe, expect, it, vi } from 'vitest'
import { COMMANDS, main } from './cli'
import { wantsColor } from './dev/progress'

/** Runs the CLI in-process, capturing what it prints. */
async function cli(...argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')))
  vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')))
  const code = await main(argv)
  return { code, out: out.join('\n'), err: err.join('\n') }
}
afterEach(() => vi.restoreAllMocks())

describe('ops-control-room argument parsing', () => {
  it.each(COMMANDS.map((c) => c.name))('%s: --help and -h print its usage and exit 0', async (name) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli(name, flag)
      expect(r.code).toBe(0)
      expect(r.out).toContain(`ops-control-room ${name} [options]`)
    }
    const viaHelp = await cli('help', name)
    expect(viaHelp.out).toContain(`ops-control-room ${name} [options]`)
  })

  it.each(COMMANDS.map((c) => c.name))(
    '%s: an unknown flag is an error naming it, with the usage',
    async (name) => {
      const r = await cli(name, '--prot', '8080')
      expect(r.code).toBe(2)
      expect(r.err).toMatch(/Unknown option '--prot'/)
      expect(r.err).toContain(`ops-control-room ${name} [options]`)
    },
  )

  it('refuses stray arguments, a missing value and a port that is not a number', async () => {
    expect((await cli('serve', 'extra')).err).toMatch(/Unexpected argument 'extra'/)
    expect((await cli('serve', '--port')).err).toMatch(/--port/)
    const bad = await cli('serve', '--database-url', 'postgres://x', '--jwt-secret', 's', '--port', '80a')
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/--port \(PORT\) must be a whole number/)
  })
})

describe('progress colours', () => {
  const tty = { isTTY: true } as unknown as NodeJS.WritableStream
  const pipe = {} as NodeJS.WritableStream
  it('colours a terminal only, and never under NO_COLOR or TERM=dumb', () => {
    expect(wantsColor(tty, {})).toBe(true)
    expect(wantsColor(pipe, {})).toBe(false)
    expect(wantsColor(tty, { NO_COLOR: '1' })).toBe(false)
    expect(wantsColor(tty, { TERM: 'dumb' })).toBe(false)
    expect(wantsColor(pipe, { FORCE_COLOR: '1' })).toBe(true)
  })
})
