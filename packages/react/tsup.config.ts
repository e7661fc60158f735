import { copyFile } from 'node:fs/promises'
import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  external: ['react', 'react-dom', '@ops-control-room/core'],
  // Every export is a hook or a client component: mark the bundle for Next.js' app router.
  banner: { js: "'use client'" },
  async onSuccess() {
    await copyFile('src/styles.css', 'dist/styles.css')
  },
})
