import { createError } from '../errors/createError.js';
import { IdempotencyError } from '../errors/IdempotencyError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';

export type Operation = 'get' | 'set' | 'delete' | 'acquireLock' | 'releaseLock' | 'waitForLock';

/**
 * Runs one DynamoDB request; a failure the SDK could not retry away reaches the caller as
 * STORAGE_ERROR carrying the AWS error as `cause` and naming operation, table and key.
 */
export async function storageCall<T>(
  operation: Operation,
  table: string,
  key: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    // Our own errors (a stored item that cannot be decoded) already say what went wrong.
    if (cause instanceof IdempotencyError) throw cause;
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    throw createError(
      IdempotencyErrorCode.STORAGE_ERROR,
      `DynamoDB request for ${operation}(${JSON.stringify(key)}) on table "${table}" failed: ${reason}`,
      { cause, context: { operation, table, key } },
    );
  }
}
