import { afterEach, describe, expect, it, vi } from 'vitest'
import { COMMANDS, main } from './cli'
import { CliUsageError, parseFlags } from './cliCommand'
import { parseRateLimit, SERVER_FLAGS, serverOptionsFromFlags } from './commands/serverFlags'
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

describe('serve and dev: token, rate-limit and executor-role flags', () => {
  const ENV = [
    'OPS_JWT_ISSUER',
    'OPS_JWT_AUDIENCE',
    'OPS_RATE_LIMIT',
    'OPS_RATE_LIMIT_ADDRESS',
    'OPS_RATE_LIMIT_TOKEN',
    'OPS_EXECUTOR_PASSWORD',
    'OPS_EXECUTOR_ROLE',
  ]
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]))
  afterEach(() => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })
  const options = (...argv: string[]) => serverOptionsFromFlags(parseFlags(argv, SERVER_FLAGS))
  const usageError = (fn: () => unknown) => {
    try {
      fn()
    } catch (err) {
      return err instanceof CliUsageError ? err.message : `not a CliUsageError: ${err}`
    }
    return 'no error'
  }

  it('reads a rate as <per second>[:<burst>] (burst 2× by default) or off', () => {
    expect(parseRateLimit('100', 'x')).toEqual({ perSecond: 100, burst: 200 })
    expect(parseRateLimit('0.5', 'x')).toEqual({ perSecond: 0.5, burst: 1 })
    expect(parseRateLimit(' 10:3 ', 'x')).toEqual({ perSecond: 10, burst: 3 })
    expect(parseRateLimit('OFF', 'x')).toBe(false)
    for (const bad of ['', '0', '-1', '1:0', 'fast', '1:2:3', '1e3', '10/s', '2000000', '1:99999999']) {
      expect([bad, usageError(() => parseRateLimit(bad, '--rate-limit-address'))]).toEqual([
        bad,
        expect.stringMatching(/^--rate-limit-address must be <requests per second>\[:<burst>\]/),
      ])
    }
  })

  it('gives nothing when nothing is given, so createServer keeps its defaults', () => {
    for (const k of ENV) delete process.env[k]
    expect(options()).toEqual({})
  })

  it('maps flags, and variables when a flag is absent (the flag wins)', () => {
    process.env.OPS_JWT_ISSUER = 'from-env'
    process.env.OPS_JWT_AUDIENCE = 'aud-env'
    process.env.OPS_RATE_LIMIT_TOKEN = '50'
    process.env.OPS_EXECUTOR_PASSWORD = 'pw-env'
    expect(options('--jwt-issuer', 'https://iss', '--rate-limit-address', '5:7')).toEqual({
      jwtIssuer: 'https://iss',
      jwtAudience: 'aud-env',
      rateLimit: { perAddress: { perSecond: 5, burst: 7 }, perToken: { perSecond: 50, burst: 100 } },
      executorRole: { password: 'pw-env' },
    })
    expect(options('--rate-limit-token', 'off').rateLimit).toEqual({ perToken: false })
    expect(options('--executor-password', 'p', '--executor-role', 'ops_exec_b').executorRole).toEqual({
      name: 'ops_exec_b',
      password: 'p',
    })
  })

  it('turns the limits off with --no-rate-limit or OPS_RATE_LIMIT=off', () => {
    expect(options('--no-rate-limit').rateLimit).toBe(false)
    process.env.OPS_RATE_LIMIT = 'off'
    expect(options().rateLimit).toBe(false)
    process.env.OPS_RATE_LIMIT = 'on'
    expect(options().rateLimit).toBeUndefined()
  })

  it('refuses contradictions and bad values with a message naming the flag', () => {
    expect(usageError(() => options('--no-rate-limit', '--rate-limit-token', '5'))).toMatch(/contradict/)
    process.env.OPS_RATE_LIMIT = 'maybe'
    expect(usageError(() => options())).toMatch(/OPS_RATE_LIMIT must be on or off, not "maybe"/)
    delete process.env.OPS_RATE_LIMIT
    expect(usageError(() => options('--jwt-issuer', ''))).toMatch(/--jwt-issuer must not be empty/)
    expect(usageError(() => options('--executor-role', 'ops_x'))).toMatch(/needs --executor-password/)
    expect(usageError(() => options('--executor-password', 'p', '--executor-role', 'Robert"; drop'))).toMatch(
      /plain lower-case identifier/,
    )
  })

  it.each(['serve', 'dev'])(
    '%s: documents the flags, and a bad value exits 2 with the usage',
    async (name) => {
      const help = await cli(name, '--help')
      for (const flag of Object.keys(SERVER_FLAGS)) expect(help.out).toContain(`--${flag}`)
      const needs = name === 'serve' ? ['--database-url', 'postgres://x', '--jwt-secret', 's'] : []
      const bad = await cli(name, ...needs, '--rate-limit-token', 'lots')
      expect(bad.code).toBe(2)
      expect(bad.err).toMatch(/--rate-limit-token \(OPS_RATE_LIMIT_TOKEN\) must be/)
      expect(bad.err).toContain(`ops-control-room ${name} [options]`)
    },
  )
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
