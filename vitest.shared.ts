import { fileURLToPath } from 'node:url'

const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url))

/** Tests import source, never a build: every workspace package resolves to its src/. */
export const workspaceAliases = [
  { find: /^@ops-control-room\/core\/postgres$/, replacement: src('core/src/postgres.ts') },
  { find: /^@ops-control-room\/core\/client$/, replacement: src('core/src/clientEntry.ts') },
  { find: /^@ops-control-room\/core\/params$/, replacement: src('core/src/paramsEntry.ts') },
  { find: /^@ops-control-room\/core$/, replacement: src('core/src/index.ts') },
  { find: /^@ops-control-room\/worker$/, replacement: src('worker/src/index.ts') },
  { find: /^@ops-control-room\/server$/, replacement: src('server/src/index.ts') },
  { find: /^@ops-control-room\/react$/, replacement: src('react/src/index.ts') },
  { find: /^@ops-control-room\/spec-kit-handler$/, replacement: src('spec-kit-handler/src/index.ts') },
  { find: /^@ops-control-room\/github\/webhook$/, replacement: src('github/src/webhook.ts') },
  { find: /^@ops-control-room\/github$/, replacement: src('github/src/index.ts') },
  { find: /^@ops-control-room\/testing$/, replacement: src('testing/src/index.ts') },
]
