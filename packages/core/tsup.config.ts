import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    client: 'src/clientEntry.ts',
    params: 'src/paramsEntry.ts',
    postgres: 'src/postgres.ts',
  },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2022',
  // One copy of each module across entry points, in CJS too: an error class has one identity.
  splitting: true,
  tsconfig: 'tsconfig.build.json',
})
