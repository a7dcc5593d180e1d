import { randomUUID } from 'node:crypto';
import type { LockEntity } from '../entities/createLockEntity.js';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import {
  type ElectroDynamoAdapterOptions,
  type ResolvedOptions,
  resolveOptions,
} from '../options.js';
import type { IdempotencyRecord, StorageAdapter } from '../types.js';
import { createEntities } from './createEntities.js';
import { claimLock, isLockHeld, releaseOwnedLock } from './lockOperations.js';
import { OwnedLocks } from './OwnedLocks.js';
import { prepareRecordWrite, readRecord, removeRecord } from './recordOperations.js';
import { storageCall } from './storageCall.js';
import { requireKey, requirePositive } from './validateInput.js';

const LOCK_TIMEOUT_MESSAGE = 'Lock wait timeout exceeded';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A `StorageAdapter` that keeps idempotency records and locks in an existing single-table
 * DynamoDB design, as two ElectroDB entities sharing one item per cache key.
 *
 * Requests per flow: a first execution costs 3 (read, claim, store) and a replay 1.
 */
export class ElectroDynamoAdapter implements StorageAdapter {
  /** The ElectroDB entities, for joining them to your own `Service` or inspecting items. */
  readonly entities: { readonly record: RecordEntity; readonly lock: LockEntity };

  private readonly options: ResolvedOptions;
  private readonly keyPrefix: string;
  private readonly ownedLocks = new OwnedLocks();

  constructor(options: ElectroDynamoAdapterOptions) {
    this.options = resolveOptions(options);
    this.keyPrefix = `${this.options.prefix}${this.options.separator}`;
    this.entities = createEntities(this.options);
  }

  /** The client is connectionless: nothing to prepare. */
  async connect(): Promise<void> {}

  /** Nothing to release; the client belongs to the caller. */
  async disconnect(): Promise<void> {}

  async get(key: string): Promise<IdempotencyRecord | null> {
    requireKey('get', key, this.keyPrefix);
    if (this.ownedLocks.consumeClaimReceipt(key, Date.now())) return null;
    return storageCall('get', this.options.table, key, () =>
      readRecord(this.entities.record, key, Date.now),
    );
  }

  async set(key: string, record: IdempotencyRecord): Promise<void> {
    requireKey('set', key, this.keyPrefix);
    const write = prepareRecordWrite(this.entities.record, key, record);
    await storageCall('set', this.options.table, key, write);
    // The record replaced our lock item: there is nothing left to release.
    this.ownedLocks.forget(key);
  }

  async delete(key: string): Promise<void> {
    requireKey('delete', key, this.keyPrefix);
    await storageCall('delete', this.options.table, key, () =>
      removeRecord(this.entities.record, key),
    );
  }

  async acquireLock(key: string, ttlMs: number): Promise<boolean> {
    requireKey('acquireLock', key, this.keyPrefix);
    requirePositive('acquireLock', 'ttlMs', ttlMs);
    const token = randomUUID();
    const now = Date.now();
    const validUntil = now + ttlMs;
    const acquired = await storageCall('acquireLock', this.options.table, key, () =>
      claimLock(this.entities.lock, key, token, validUntil, now),
    );
    if (acquired) this.ownedLocks.take(key, token, validUntil, now);
    return acquired;
  }

  async releaseLock(key: string): Promise<void> {
    requireKey('releaseLock', key, this.keyPrefix);
    const token = this.ownedLocks.tokenOf(key);
    // Not ours (never taken, or already replaced by our own record): nothing to give up.
    if (token === undefined) return;
    this.ownedLocks.forget(key);
    await storageCall('releaseLock', this.options.table, key, () =>
      releaseOwnedLock(this.entities.lock, key, token),
    );
  }

  async waitForLock(key: string, timeoutMs: number, pollIntervalMs: number): Promise<void> {
    requireKey('waitForLock', key, this.keyPrefix);
    requirePositive('waitForLock', 'timeoutMs', timeoutMs);
    requirePositive('waitForLock', 'pollIntervalMs', pollIntervalMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const held = await storageCall('waitForLock', this.options.table, key, () =>
        isLockHeld(this.entities.lock, key, Date.now),
      );
      if (!held) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw createError(IdempotencyErrorCode.LOCK_TIMEOUT, LOCK_TIMEOUT_MESSAGE, {
          context: { operation: 'waitForLock', table: this.options.table, key, timeoutMs },
        });
      }
      await sleep(Math.min(pollIntervalMs, remaining));
    }
  }
}
