import { coreErrorClass } from './coreModule.js';
import { IdempotencyError } from './IdempotencyError.js';

/**
 * At the adapter's async boundary, turns our `IdempotencyError` into the installed core's own
 * class (same code, message, context, cause and stack), so `instanceof` in the core's
 * framework integrations holds. Without the core, or for any other error, returns it as is.
 */
export async function adoptCoreError(error: unknown): Promise<unknown> {
  if (!(error instanceof IdempotencyError)) return error;
  const CoreError = await coreErrorClass;
  if (CoreError === undefined) return error;
  const adopted = new CoreError(error.code, error.message, {
    ...(error.cause === undefined ? {} : { cause: error.cause }),
    ...(error.context === undefined ? {} : { context: error.context }),
  });
  if (error.stack !== undefined) adopted.stack = error.stack;
  return adopted;
}

/** True when the adapter's errors reach callers as the installed core's `IdempotencyError`. */
export async function usesCoreErrorClass(): Promise<boolean> {
  return (await coreErrorClass) !== undefined;
}
