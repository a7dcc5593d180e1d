import type { IdempotencyErrorCode } from './IdempotencyErrorCode.js';

/** The constructor shape of the core's `IdempotencyError` (and of our stand-in). */
export type CoreErrorConstructor = new (
  code: IdempotencyErrorCode,
  message: string,
  options?: { cause?: unknown; context?: Record<string, unknown> },
) => Error & { readonly code: IdempotencyErrorCode };

/** Takes the error class from a loaded core module, refusing anything that is not a class. */
export function pickCoreErrorClass(coreModule: unknown): CoreErrorConstructor | undefined {
  if (typeof coreModule !== 'object' || coreModule === null) return undefined;
  const candidate = (coreModule as { IdempotencyError?: unknown }).IdempotencyError;
  return typeof candidate === 'function' ? (candidate as CoreErrorConstructor) : undefined;
}
