import { type CliFlags, type CliOptions, CliUsageError, flagOrEnv } from '../cliCommand'
import type { ServerOptions } from '../createServer'
import { DEFAULT_PER_ADDRESS, DEFAULT_PER_TOKEN, type RateLimit } from '../rateLimiter'

/** The flags `serve` and `dev` share for token checks, request limits and the database role. */
export const SERVER_FLAGS: CliOptions = {
  'jwt-issuer': { type: 'string' },
  'jwt-audience': { type: 'string' },
  'rate-limit-address': { type: 'string' },
  'rate-limit-token': { type: 'string' },
  'no-rate-limit': { type: 'boolean' },
  'executor-password': { type: 'string' },
  'executor-role': { type: 'string' },
}

const rate = (r: RateLimit) => `${r.perSecond}:${r.burst}`

/** Their lines of `--help`. */
export const SERVER_FLAGS_USAGE = `  --jwt-issuer <iss>            accept only tokens with this iss        (env OPS_JWT_ISSUER)
  --jwt-audience <aud>          accept only tokens with this aud        (env OPS_JWT_AUDIENCE)
  --rate-limit-address <r[:b]>  requests per second per client address, (env OPS_RATE_LIMIT_ADDRESS,
                                burst b (default 2r); off: no limit      default ${rate(DEFAULT_PER_ADDRESS)})
  --rate-limit-token <r[:b]>    the same per bearer token               (env OPS_RATE_LIMIT_TOKEN,
                                                                         default ${rate(DEFAULT_PER_TOKEN)})
  --no-rate-limit               no request limits at all (429 never)    (env OPS_RATE_LIMIT=off)
  --executor-password <pw>      serve through the ops_executor role     (env OPS_EXECUTOR_PASSWORD;
                                with this password (--migrate creates    prefer it: argv is visible
                                it); the URL's user is used for nothing  in ps)
                                else
  --executor-role <name>        that role's name (roles are per cluster: (env OPS_EXECUTOR_ROLE,
                                one per deployment sharing one)          default ops_executor)`

/**
 * `<requests per second>[:<burst>]` or `off`, as given to --rate-limit-address/-token. The burst
 * defaults to twice the rate (at least 1).
 * @throws CliUsageError naming the flag, for anything else.
 */
export function parseRateLimit(value: string, name: string): RateLimit | false {
  const v = value.trim().toLowerCase()
  if (v === 'off') return false
  const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(v)
  const perSecond = m ? Number(m[1]) : Number.NaN
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.max(1, Math.ceil(2 * perSecond))
  if (!m || !(perSecond > 0) || perSecond > 1_000_000 || burst < 1 || burst > 10_000_000) {
    throw new CliUsageError(
      `${name} must be <requests per second>[:<burst>] (e.g. 100:200; rate > 0, burst ≥ 1) or off, not "${value}"`,
    )
  }
  return { perSecond, burst }
}

/** A yes/no environment variable: on/true/1/yes or off/false/0/no. */
function switchEnv(name: string): boolean | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const v = raw.trim().toLowerCase()
  if (['on', 'true', '1', 'yes'].includes(v)) return true
  if (['off', 'false', '0', 'no'].includes(v)) return false
  throw new CliUsageError(`${name} must be on or off, not "${raw}"`)
}

/** A flag or variable that, when given, must not be empty (an empty issuer would check nothing). */
function nonEmpty(flags: CliFlags, flag: string, env: string): string | undefined {
  const given = flags[flag]
  if (typeof given === 'string' && given.trim() === '') {
    throw new CliUsageError(`--${flag} must not be empty`)
  }
  return flagOrEnv(flags, flag, env)
}

/** The createServer options the shared flags (and their variables) give; absent ones stay absent. */
export function serverOptionsFromFlags(
  flags: CliFlags,
): Pick<ServerOptions, 'jwtIssuer' | 'jwtAudience' | 'rateLimit' | 'executorRole'> {
  const out: Pick<ServerOptions, 'jwtIssuer' | 'jwtAudience' | 'rateLimit' | 'executorRole'> = {}
  const issuer = nonEmpty(flags, 'jwt-issuer', 'OPS_JWT_ISSUER')
  if (issuer !== undefined) out.jwtIssuer = issuer
  const audience = nonEmpty(flags, 'jwt-audience', 'OPS_JWT_AUDIENCE')
  if (audience !== undefined) out.jwtAudience = audience

  const address = flagOrEnv(flags, 'rate-limit-address', 'OPS_RATE_LIMIT_ADDRESS')
  const token = flagOrEnv(flags, 'rate-limit-token', 'OPS_RATE_LIMIT_TOKEN')
  const enabled = flags['no-rate-limit'] === true ? false : switchEnv('OPS_RATE_LIMIT')
  if (enabled === false) {
    if (typeof flags['rate-limit-address'] === 'string' || typeof flags['rate-limit-token'] === 'string') {
      throw new CliUsageError('--no-rate-limit (or OPS_RATE_LIMIT=off) and a --rate-limit-* flag contradict')
    }
    out.rateLimit = false
  } else if (address !== undefined || token !== undefined) {
    out.rateLimit = {
      ...(address !== undefined
        ? { perAddress: parseRateLimit(address, '--rate-limit-address (OPS_RATE_LIMIT_ADDRESS)') }
        : {}),
      ...(token !== undefined
        ? { perToken: parseRateLimit(token, '--rate-limit-token (OPS_RATE_LIMIT_TOKEN)') }
        : {}),
    }
  }

  const password = nonEmpty(flags, 'executor-password', 'OPS_EXECUTOR_PASSWORD')
  const role = nonEmpty(flags, 'executor-role', 'OPS_EXECUTOR_ROLE')
  if (role !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(role)) {
    throw new CliUsageError(
      `--executor-role (OPS_EXECUTOR_ROLE) must be a plain lower-case identifier, not "${role}"`,
    )
  }
  if (password !== undefined) out.executorRole = role ? { name: role, password } : { password }
  else if (typeof flags['executor-role'] === 'string') {
    throw new CliUsageError('--executor-role needs --executor-password (or OPS_EXECUTOR_PASSWORD)')
  }
  return out
}
