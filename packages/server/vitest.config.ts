import { defineConfig } from 'vitest/config'
import { workspaceAliases } from '../../vitest.shared.ts'

export default defineConfig({
  resolve: { alias: workspaceAliases },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/syncMigrations.ts', '../testing/src/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The 100 MB streaming test measures live memory; it collects garbage while it samples.
    execArgv: ['--expose-gc'],
  },
})
