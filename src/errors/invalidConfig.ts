import { createError } from './createError.js';
import { IdempotencyErrorCode } from './IdempotencyErrorCode.js';

/** Throws INVALID_CONFIG, naming the caller and the option at fault. */
export function invalidConfig(
  caller: string,
  message: string,
  option: string,
  cause?: unknown,
): never {
  throw createError(IdempotencyErrorCode.INVALID_CONFIG, `${caller}: ${message}`, {
    context: { option },
    ...(cause === undefined ? {} : { cause }),
  });
}
