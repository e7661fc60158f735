import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', specKit: 'src/bin/specKit.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' }, compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
})
