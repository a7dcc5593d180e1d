import path from 'node:path';
import { defineConfig, type Rolldown, type UserConfig } from 'tsdown';

/**
 * The core's error class must come from the same module system the application used, or
 * `instanceof` fails (dual package hazard). The ESM build keeps `coreModule.ts` (`import()`);
 * the CommonJS build gets `coreModule.commonjs.ts` (`require()`).
 *
 * Only the JavaScript of the CommonJS build goes through this plugin: tsdown does not run user
 * plugins in the pass that writes `index.d.cts`, and both variants declare the same export.
 */
const commonJsCoreModule: Rolldown.Plugin = {
  name: 'commonjs-core-module',
  resolveId: {
    filter: { id: /(?:^|\/)coreModule\.js$/ },
    handler(source, importer) {
      if (importer === undefined) return null;
      return path.resolve(path.dirname(importer), source.replace(/\.js$/, '.commonjs.ts'));
    },
  },
};

/**
 * No declaration maps are shipped (their sources, `src/`, are not in the package), yet rolldown
 * ends each declaration file with a `//# sourceMappingURL=` comment when `sourcemap` is on for
 * the JavaScript. This drops that comment from declaration files whose map was not emitted.
 */
const noDanglingDeclarationMapComment: Rolldown.Plugin = {
  name: 'no-dangling-declaration-map-comment',
  generateBundle: {
    // After rolldown-plugin-dts has removed the declaration maps it was not asked for.
    order: 'post',
    handler(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'chunk' || !/\.d\.[cm]?ts$/.test(file.fileName)) continue;
        if (`${file.fileName}.map` in bundle) continue;
        file.code = file.code.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
      }
    },
  },
};

const shared = {
  entry: { index: 'src/index.ts' },
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  outDir: 'dist',
  // Dependencies and peers (electrodb, the AWS SDK, the core) stay imports, as tsdown makes them
  // from package.json; an empty allow-list fails the build should anything else get bundled.
  deps: { onlyBundle: [] },
  // `.js` + `.d.ts` for ESM and `.cjs` + `.d.cts` for CommonJS, as package.json names them
  // (the package is `"type": "module"`); tsdown would otherwise write `.mjs` and `.d.mts`.
  fixedExtension: false,
  checks: {
    // CommonJS is shipped on purpose (the `require` condition in package.json).
    legacyCjs: false,
    // Rolldown's notes on slow plugins (the declaration build, mostly) say nothing actionable
    // and come and go with the machine's load.
    pluginTimings: false,
  },
  // Through `inputOptions` rather than `plugins`: tsdown leaves `plugins` out of the separate
  // pass that writes `index.d.cts`, and this one must run there too.
  // (An `inputOptions` object would replace tsdown's own plugins instead of adding to them.)
  inputOptions: (options) => ({ plugins: [options.plugins, noDanglingDeclarationMapComment] }),
} satisfies UserConfig;

export default defineConfig([
  { ...shared, format: 'esm' },
  {
    ...shared,
    format: 'cjs',
    plugins: [commonJsCoreModule],
    // Marks the exports object `__esModule`, as the tsup build did, so that bundlers and
    // `esModuleInterop` keep treating it as compiled ESM (rolldown adds it only with a default).
    outputOptions: { esModule: true },
  },
  // The command line tool: ESM only, no declarations. tsdown keeps the shebang and, for an
  // entry that starts with one, sets the mode bit (0o755) after writing it.
  { ...shared, entry: { cli: 'src/cli/bin.ts' }, format: 'esm', dts: false },
]);
