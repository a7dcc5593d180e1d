import type { CoreErrorConstructor } from './CoreErrorConstructor.js';
import { coreErrorClass } from './coreModule.js';
import { IdempotencyError } from './IdempotencyError.js';
import type { IdempotencyErrorCode } from './IdempotencyErrorCode.js';

const ErrorClass: CoreErrorConstructor = coreErrorClass ?? IdempotencyError;

/** True when errors are instances of the installed core's `IdempotencyError`. */
export const usesCoreErrorClass: boolean = coreErrorClass !== undefined;

/**
 * Every error the adapter throws is made here: the core's `IdempotencyError` when the core is
 * installed (so `instanceof` in its framework integrations holds), our stand-in otherwise.
 */
export function createError(
  code: IdempotencyErrorCode,
  message: string,
  options: { cause?: unknown; context?: Record<string, unknown> } = {},
): Error & { readonly code: IdempotencyErrorCode } {
  return new ErrorClass(code, message, options);
}
