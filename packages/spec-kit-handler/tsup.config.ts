import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', specKit: 'src/bin/specKit.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' }, compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  // One copy of each module across entry points, in CJS too: an error class has one identity.
  splitting: true,
  shims: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
})
