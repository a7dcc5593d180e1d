/**
 * CommonJS variant of `coreModule.ts`: resolves the core with `require()`, so a CommonJS
 * application gets the class from the core's CommonJS build, the one its own `require` sees.
 */
import type { CoreErrorConstructor } from './CoreErrorConstructor.js';
import { pickCoreErrorClass } from './CoreErrorConstructor.js';

function requireCore(): unknown {
  try {
    return require('@reaatech/idempotency-middleware');
  } catch {
    return undefined;
  }
}

export const coreErrorClass: Promise<CoreErrorConstructor | undefined> = Promise.resolve(
  pickCoreErrorClass(requireCore()),
);
