import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', postgres: 'src/postgres.ts' },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
})
