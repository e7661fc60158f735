import { defineConfig } from 'vitest/config'
import { workspaceAliases } from '../vitest.shared.ts'

export default defineConfig({
  resolve: { alias: workspaceAliases },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['../packages/testing/src/globalSetup.ts'],
    // A ceiling, not a target: the image tests run the Dockerfiles' installs (pnpm deploy, builds), minutes
    // on a busy 2-core machine.
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
})
