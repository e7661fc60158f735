import type { AnyHandler } from '../types'

const isHandler = (h: unknown): h is AnyHandler =>
  typeof h === 'object' && h !== null && typeof (h as { run?: unknown }).run === 'function'

/**
 * The handler definitions a module exports as `default`, `handlers` or `handler` (one or a list).
 * A CommonJS module (`module.exports = { handlers }`) arrives through `import()` with its
 * `module.exports` as `default`, so an object there that is not a handler is looked into once more.
 * Undefined when the module exports none.
 */
export function handlersFromModule(mod: Record<string, unknown>): AnyHandler[] | undefined {
  let exported = mod.default ?? mod.handlers ?? mod.handler
  if (typeof exported === 'object' && exported !== null && !Array.isArray(exported) && !isHandler(exported)) {
    const inner = exported as Record<string, unknown>
    exported = inner.handlers ?? inner.handler ?? inner.default
  }
  const list = Array.isArray(exported) ? exported : [exported]
  return list.length > 0 && list.every(isHandler) ? list : undefined
}
