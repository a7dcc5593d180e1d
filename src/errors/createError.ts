import { IdempotencyError } from './IdempotencyError.js';
import type { IdempotencyErrorCode } from './IdempotencyErrorCode.js';

/** Every error the adapter raises starts here, as this package's `IdempotencyError`. */
export function createError(
  code: IdempotencyErrorCode,
  message: string,
  options: { cause?: unknown; context?: Record<string, unknown> } = {},
): IdempotencyError {
  return new IdempotencyError(code, message, options);
}
