import { createError } from '../../errors/createError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';
import type { Operation } from './storageError.js';

/** DynamoDB's limit on a partition key value, in UTF-8 bytes. */
export const MAX_PARTITION_KEY_BYTES = 2048;

function describeBadKey(key: unknown): string {
  if (key === '') return 'an empty string';
  return key === null ? 'null' : typeof key;
}

/** Rejects a key that is not a non-empty string, or whose partition key DynamoDB would refuse. */
export function requireKey(operation: Operation, key: unknown, keyPrefixBytes: number): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw createError(
      IdempotencyErrorCode.KEY_REQUIRED,
      `${operation}: key must be a non-empty string (got ${describeBadKey(key)})`,
      { context: { operation } },
    );
  }
  // A UTF-16 unit never takes more than 3 UTF-8 bytes, so short keys need no count.
  if (keyPrefixBytes + key.length * 3 <= MAX_PARTITION_KEY_BYTES) return key;
  // Measured here because dynalite counts UTF-16 units while DynamoDB counts UTF-8 bytes.
  const bytes = keyPrefixBytes + Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_PARTITION_KEY_BYTES) {
    throw createError(
      IdempotencyErrorCode.KEY_REQUIRED,
      `${operation}: partition key would be ${bytes} bytes, over DynamoDB's ${MAX_PARTITION_KEY_BYTES}-byte limit`,
      { context: { operation, bytes, limit: MAX_PARTITION_KEY_BYTES } },
    );
  }
  return key;
}

/** Rejects a duration that is not a finite number above zero. */
export function requirePositive(operation: Operation, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw createError(
      IdempotencyErrorCode.INVALID_CONFIG,
      `${operation}: ${name} must be a finite number of milliseconds > 0 (got ${String(value)})`,
      { context: { operation, [name]: value } },
    );
  }
  return value;
}
