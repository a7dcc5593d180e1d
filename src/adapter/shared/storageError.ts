import { createError } from '../../errors/createError.js';
import { IdempotencyError } from '../../errors/IdempotencyError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';

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
  keyAttributes: string,
): IdempotencyError {
  if (cause instanceof IdempotencyError) return cause;
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return createError(
    IdempotencyErrorCode.STORAGE_ERROR,
    `DynamoDB request for ${operation}(${JSON.stringify(key)}) on table "${table}" failed: ${reason}${keySchemaHint(cause, keyAttributes)}`,
    { cause, context: { operation, table, key } },
  );
}

/**
 * How each server words a request whose key attributes are not the table's: DynamoDB ("One or
 * more parameter values were invalid: Missing the key pk in the item", "The provided key element
 * does not match the schema", "Type mismatch for key pk ..."), DynamoDB Local ("One of the
 * required keys was not given a value") and dynalite (the schema wording).
 */
const KEY_MISMATCH =
  /key element does not match the schema|missing the key|type mismatch for key|required keys was not given a value/i;

/**
 * Key attribute names that do not match the table only show up as a terse validation error on
 * the first request; say which names the adapter used and how to compare them.
 */
function keySchemaHint(cause: unknown, keyAttributes: string): string {
  const isKeyMismatch =
    cause instanceof Error &&
    cause.name === 'ValidationException' &&
    KEY_MISMATCH.test(cause.message);
  return isKeyMismatch
    ? ` (the adapter's key attributes are ${keyAttributes}; \`electrodb-idempotency check\` compares them with the table's key schema)`
    : '';
}
