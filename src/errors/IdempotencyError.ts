import { IdempotencyErrorCode } from './IdempotencyErrorCode.js';

const STATUS_BY_CODE: Record<IdempotencyErrorCode, number> = {
  KEY_REQUIRED: 400,
  LOCK_TIMEOUT: 409,
  CONFLICT: 409,
  STORAGE_ERROR: 503,
  SERIALIZATION_ERROR: 500,
  INVALID_CONFIG: 500,
  NOT_CONNECTED: 500,
};

export interface IdempotencyErrorOptions {
  context?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * Stand-in for the core's `IdempotencyError`, used only when `@reaatech/idempotency-middleware`
 * is not installed. Same `name`, `code`, `context`, `cause`, `isRecoverable()` and
 * `getStatusCode()`, so code that checks those rather than `instanceof` behaves the same.
 */
export class IdempotencyError extends Error {
  override readonly name = 'IdempotencyError';
  readonly code: IdempotencyErrorCode;
  readonly context: Record<string, unknown> | undefined;

  constructor(code: IdempotencyErrorCode, message: string, options: IdempotencyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context;
  }

  isRecoverable(): boolean {
    return (
      this.code === IdempotencyErrorCode.LOCK_TIMEOUT ||
      this.code === IdempotencyErrorCode.STORAGE_ERROR
    );
  }

  getStatusCode(): number {
    return STATUS_BY_CODE[this.code];
  }
}
