import { defineConfig } from 'vitest/config'
import { workspaceAliases } from '../vitest.shared.ts'

export default defineConfig({
  resolve: { alias: workspaceAliases },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['../packages/testing/src/globalSetup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
})
