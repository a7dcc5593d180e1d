import { createError } from '../errors/createError.js';
import { IdempotencyError } from '../errors/IdempotencyError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';

export type Operation = 'get' | 'set' | 'delete' | 'acquireLock' | 'releaseLock' | 'waitForLock';

/**
 * What a method's failure becomes. Our own errors (bad input, a stored item that cannot be
 * decoded, a lock wait timeout) already say what went wrong; anything else came from DynamoDB
 * after the SDK's retries, and reaches the caller as STORAGE_ERROR carrying the AWS error as
 * `cause` and naming operation, table and key.
 */
export function asAdapterError(
  operation: Operation,
  table: string,
  key: unknown,
  cause: unknown,
): IdempotencyError {
  if (cause instanceof IdempotencyError) return cause;
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return createError(
    IdempotencyErrorCode.STORAGE_ERROR,
    `DynamoDB request for ${operation}(${JSON.stringify(key)}) on table "${table}" failed: ${reason}`,
    { cause, context: { operation, table, key } },
  );
}
