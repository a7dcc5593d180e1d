/**
 * The storage contract of `@reaatech/idempotency-middleware` v1, restated here so the
 * adapter builds without the core installed. Structurally identical to the core's types.
 */

/** What the core stores for one idempotency key. */
export interface IdempotencyRecord {
  /** The handler's result, already made JSON-safe by the core. */
  response: unknown;
  /** HTTP status, set by framework integrations. */
  statusCode?: number;
  /** Response headers, set by framework integrations. */
  headers?: Record<string, string>;
  /** Epoch milliseconds when the record was made. */
  createdAt: number;
  /** Lifetime in milliseconds; expired once `now > createdAt + ttl`. */
  ttl: number;
}

/** The pluggable store the core talks to. */
export interface StorageAdapter {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  get(key: string): Promise<IdempotencyRecord | null>;
  set(key: string, record: IdempotencyRecord): Promise<void>;
  delete(key: string): Promise<void>;
  acquireLock(key: string, ttlMs: number): Promise<boolean>;
  releaseLock(key: string): Promise<void>;
  waitForLock(key: string, timeoutMs: number, pollIntervalMs: number): Promise<void>;
}
