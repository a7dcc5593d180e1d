/**
 * The core's error class, if `@reaatech/idempotency-middleware` is installed.
 *
 * This file is the ESM variant: it resolves the core through `import()`, so an ESM
 * application gets the same class instance its own `import` sees. The CommonJS build swaps
 * in `coreModule.commonjs.ts`, which uses `require()` for the same reason (see tsdown.config.ts).
 * The lookup starts at module load but is awaited only where an error is thrown, so the
 * module has no top-level await and can still be bundled to CommonJS.
 */
import type { CoreErrorConstructor } from './CoreErrorConstructor.js';
import { pickCoreErrorClass } from './CoreErrorConstructor.js';

export const coreErrorClass: Promise<CoreErrorConstructor | undefined> = import(
  '@reaatech/idempotency-middleware'
).then(pickCoreErrorClass, () => undefined);
