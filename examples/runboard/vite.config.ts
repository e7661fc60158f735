import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import { workspaceAliases } from '../../vitest.shared.ts'

// The app builds from the workspace packages' sources (as the tests do), so `pnpm start` need not
// build their dist first. Without @vitejs/plugin-react: esbuild's automatic JSX runtime is enough.
export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@ops-control-room\/react\/styles\.css$/,
        replacement: fileURLToPath(new URL('../../packages/react/src/styles.css', import.meta.url)),
      },
      ...workspaceAliases,
    ],
    dedupe: ['react', 'react-dom'],
  },
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: {
      // The package marks its client components with 'use client' for Next.js; a Vite app has no
      // server components, so the directive is rightly dropped: no need to warn for each file.
      onwarn(warning, warn) {
        if (['MODULE_LEVEL_DIRECTIVE', 'SOURCEMAP_ERROR', 'INVALID_ANNOTATION'].includes(warning.code ?? ''))
          return
        warn(warning)
      },
    },
  },
  server: {
    // `pnpm --filter @ops-control-room/example-runboard dev` next to a running `ops-control-room dev`.
    proxy: { '^/(?!src/|@|node_modules/).+': { target: 'http://127.0.0.1:8787', changeOrigin: false } },
  },
})
