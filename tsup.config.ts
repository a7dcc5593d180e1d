import path from 'node:path';
import type { Plugin } from 'esbuild';
import { defineConfig, type Options } from 'tsup';

/**
 * The core's error class must come from the same module system the application used, or
 * `instanceof` fails (dual package hazard). The ESM build keeps `coreModule.ts` (`import()`);
 * the CommonJS build gets `coreModule.commonjs.ts` (`require()`).
 */
const commonJsCoreModule: Plugin = {
  name: 'commonjs-core-module',
  setup(build) {
    build.onResolve({ filter: /\/coreModule\.js$/ }, (args) => ({
      path: path.join(args.resolveDir, 'coreModule.commonjs.ts'),
    }));
  },
};

const shared: Options = {
  entry: ['src/index.ts'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  outDir: 'dist',
};

export default defineConfig([
  { ...shared, format: 'esm' },
  { ...shared, format: 'cjs', esbuildPlugins: [commonJsCoreModule] },
  // The command line tool: ESM only, no declarations; tsup keeps the shebang and the mode bit.
  { ...shared, entry: { cli: 'src/cli/bin.ts' }, format: 'esm', dts: false },
]);
