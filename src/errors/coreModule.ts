/**
 * The core's error class, if `@reaatech/idempotency-middleware` is installed.
 *
 * This file is the ESM variant: it resolves the core through `import()`, so an ESM
 * application gets the same class instance its own `import` sees. The CommonJS build swaps
 * in `coreModule.commonjs.ts`, which uses `require()` for the same reason (see tsup.config.ts).
 * Resolving at module load keeps error creation synchronous everywhere.
 */
import type { CoreErrorConstructor } from './CoreErrorConstructor.js';
import { pickCoreErrorClass } from './CoreErrorConstructor.js';

async function importCore(): Promise<unknown> {
  try {
    return await import('@reaatech/idempotency-middleware');
  } catch {
    return undefined;
  }
}

export const coreErrorClass: CoreErrorConstructor | undefined = pickCoreErrorClass(
  await importCore(),
);
