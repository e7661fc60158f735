import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ValidationError } from '@ops-control-room/core'
import { createShellHandler, DEFAULT_SHELL_ENV } from './shellHandler'
import type { AnyHandler } from './types'

/** Options of `loadHandlers`. */
export interface LoadHandlersOptions {
  /** Options per entry, keyed by the entry as written (`@acme/deploy#deployHandler`); given to factories. */
  options?: Readonly<Record<string, unknown>>
  /** Relative paths and package names resolve from here. Default `process.cwd()`. */
  cwd?: string
  /** Handed to factories as their second argument. Default `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** A handler factory as `OPS_HANDLERS` may name it: options in, one handler or a list out. */
export type HandlerFactory = (
  options: unknown,
  context: { env: NodeJS.ProcessEnv },
) => AnyHandler | readonly AnyHandler[] | Promise<AnyHandler | readonly AnyHandler[]>

const isPlainModule = (v: unknown) => !!v && typeof v === 'object' && !Array.isArray(v)

const isHandler = (h: unknown): h is AnyHandler =>
  !!h &&
  typeof h === 'object' &&
  typeof (h as AnyHandler).run === 'function' &&
  typeof (h as AnyHandler).kind === 'string'

/**
 * Loads the handlers an `OPS_HANDLERS` list names: comma-separated entries, each `shell`, a module
 * path (`./handlers.js`) or a package name (`@ops-control-room/spec-kit-handler`), optionally with
 * `#export`. An export may be a handler, a list of handlers, or a factory, which is called with the
 * entry's options (from `OPS_HANDLER_OPTIONS`, a JSON object keyed by entry) and `{ env }`.
 *
 * @example
 * // OPS_HANDLERS='shell,@ops-control-room/spec-kit-handler#specKitHandler'
 * // OPS_HANDLER_OPTIONS='{"@ops-control-room/spec-kit-handler#specKitHandler":{"repo":"/srv/specs.git"}}'
 * const handlers = await loadHandlers(process.env.OPS_HANDLERS ?? '', {
 *   options: JSON.parse(process.env.OPS_HANDLER_OPTIONS ?? '{}'),
 * })
 * @throws ValidationError when an entry cannot be loaded or exports no handler
 */
export async function loadHandlers(list: string, options: LoadHandlersOptions = {}): Promise<AnyHandler[]> {
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const requireHere = createRequire(resolve(cwd, 'noop.js'))
  const handlers: AnyHandler[] = []
  for (const entry of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (entry === 'shell') {
      // An explicit environment: the defaults plus what OPS_SHELL_ENV names, never the worker's own.
      const extra = (env.OPS_SHELL_ENV ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      handlers.push(createShellHandler({ inheritEnv: [...DEFAULT_SHELL_ENV, ...extra] }))
      continue
    }
    const hash = entry.lastIndexOf('#')
    const specifier = hash > 0 ? entry.slice(0, hash) : entry
    const exportName = hash > 0 ? entry.slice(hash + 1) : undefined
    // A file beside cwd wins over a package of the same name (entries were paths before packages).
    const local =
      specifier.startsWith('.') || specifier.startsWith('/') || existsSync(resolve(cwd, specifier))
    let mod: Record<string, unknown>
    try {
      const url = local
        ? pathToFileURL(resolve(cwd, specifier)).href
        : pathToFileURL(requireHere.resolve(specifier)).href
      mod = (await import(url)) as Record<string, unknown>
    } catch (err) {
      throw new ValidationError(`OPS_HANDLERS: cannot load ${specifier}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    // A CommonJS build (what `require.resolve` finds through an `exports` map) arrives as
    // `{ default: module.exports }`: look inside it the same way.
    const scope =
      !exportName && isPlainModule(mod.default) && !isHandler(mod.default)
        ? (mod.default as Record<string, unknown>)
        : mod
    let exported = exportName
      ? (mod[exportName] ??
        (isPlainModule(mod.default) ? (mod.default as Record<string, unknown>)[exportName] : undefined))
      : (scope.default ?? scope.handlers ?? scope.handler)
    if (typeof exported === 'function') {
      exported = await (exported as HandlerFactory)(options.options?.[entry] ?? {}, { env })
    }
    const found = (Array.isArray(exported) ? exported : [exported]) as unknown[]
    if (found.length === 0 || !found.every(isHandler)) {
      throw new ValidationError(
        `OPS_HANDLERS: ${entry} must export a handler (defineHandler), a list of them, or a factory returning them${exportName ? ` as ${exportName}` : ' as default, handlers or handler'}`,
      )
    }
    handlers.push(...found)
  }
  return handlers
}
