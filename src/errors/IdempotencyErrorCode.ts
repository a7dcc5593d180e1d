/** Error codes shared with the core (string enum semantics: value = name). */
export const IdempotencyErrorCode = {
  KEY_REQUIRED: 'KEY_REQUIRED',
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  STORAGE_ERROR: 'STORAGE_ERROR',
  SERIALIZATION_ERROR: 'SERIALIZATION_ERROR',
  CONFLICT: 'CONFLICT',
  INVALID_CONFIG: 'INVALID_CONFIG',
  NOT_CONNECTED: 'NOT_CONNECTED',
} as const;

export type IdempotencyErrorCode = (typeof IdempotencyErrorCode)[keyof typeof IdempotencyErrorCode];
