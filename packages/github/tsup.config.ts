import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', webhook: 'src/webhook.ts' },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
})
