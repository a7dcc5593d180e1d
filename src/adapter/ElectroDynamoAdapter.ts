import { randomUUID } from 'node:crypto';
import type { LockEntity } from '../entities/createLockEntity.js';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { adoptCoreError } from '../errors/adoptCoreError.js';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import {
  type ElectroDynamoAdapterOptions,
  type ResolvedOptions,
  resolveOptions,
} from '../options.js';
import { describeKey } from '../tableFields.js';
import type { IdempotencyRecord, StorageAdapter } from '../types.js';
import { createEntities } from './createEntities.js';
import { createKeyRead, type KeyItem } from './entityRequests.js';
import { LockStore } from './LockStore.js';
import { OwnedLocks } from './OwnedLocks.js';
import { RecordCache } from './RecordCache.js';
import { RecordStore } from './RecordStore.js';
import { decodeRecord, encodeRecord } from './recordCodec.js';
import { asAdapterError, type Operation } from './storageError.js';
import { isLive } from './time.js';
import { requireKey, requirePositive } from './validateInput.js';
import { WaitReceipts } from './WaitReceipts.js';

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
  /** UTF-8 length of `<prefix><separator>`, the part of every partition key before the cache key. */
  private readonly keyPrefixBytes: number;
  private readonly records: RecordStore;
  private readonly locks: LockStore;
  private readonly ownedLocks = new OwnedLocks();
  private readonly waitReceipts = new WaitReceipts();
  private readonly readKey: (key: string) => Promise<KeyItem>;
  private readonly cache: RecordCache | undefined;

  /** Throws this package's `IdempotencyError` (code INVALID_CONFIG) for bad options. */
  constructor(options: ElectroDynamoAdapterOptions) {
    this.options = resolveOptions(options);
    this.keyPrefixBytes = Buffer.byteLength(`${this.options.prefix}${this.options.separator}`);
    this.entities = createEntities(this.options);
    const { lowLevelClient, table } = this.options;
    this.records = new RecordStore(this.entities.record, lowLevelClient, table);
    this.locks = new LockStore(this.entities.lock, lowLevelClient, table);
    this.readKey = createKeyRead(this.entities.record, this.entities.lock, lowLevelClient, table);
    const { localCache } = this.options;
    this.cache = localCache === undefined ? undefined : new RecordCache(localCache.maxEntries);
  }

  /** The client is connectionless: nothing to prepare. */
  async connect(): Promise<void> {}

  /** Nothing to release; the client belongs to the caller. */
  async disconnect(): Promise<void> {}

  async get(key: string): Promise<IdempotencyRecord | null> {
    try {
      requireKey('get', key, this.keyPrefixBytes);
      const now = Date.now();
      if (this.ownedLocks.consumeClaimReceipt(key, now)) return null;
      const seen = this.waitReceipts.take(key, now);
      if (seen !== undefined) {
        const item = await this.records.live(seen, now);
        if (item !== null) return decodeRecord(item);
      }
      const cached = this.cache?.get(key, now);
      if (cached !== undefined) return cached;
      const stamp = this.cache?.readStamp();
      const item = await this.records.getLive(key, Date.now);
      if (item === null) return null;
      const record = decodeRecord(item);
      if (stamp !== undefined) this.cache?.fill(key, item, stamp);
      return record;
    } catch (error) {
      throw await this.failure('get', key, error);
    }
  }

  async set(key: string, record: IdempotencyRecord): Promise<void> {
    try {
      requireKey('set', key, this.keyPrefixBytes);
      // Encoding first means a record that cannot be stored writes nothing.
      const item = encodeRecord(key, record);
      const stamp = this.cache?.beginWrite(key);
      this.waitReceipts.forget(key);
      await this.records.put(item);
      // The record replaced the lock item: nothing is left to release.
      this.ownedLocks.forget(key);
      if (stamp !== undefined) this.cache?.fill(key, item, stamp);
    } catch (error) {
      throw await this.failure('set', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      requireKey('delete', key, this.keyPrefixBytes);
      this.cache?.beginWrite(key);
      this.waitReceipts.forget(key);
      try {
        await this.records.remove(key);
      } finally {
        // Reads that started while the delete was in flight may have seen the record.
        this.cache?.beginWrite(key);
      }
    } catch (error) {
      throw await this.failure('delete', key, error);
    }
  }

  async acquireLock(key: string, ttlMs: number): Promise<boolean> {
    try {
      requireKey('acquireLock', key, this.keyPrefixBytes);
      requirePositive('acquireLock', 'ttlMs', ttlMs);
      const token = randomUUID();
      const now = Date.now();
      const validUntil = now + ttlMs;
      const acquired = await this.locks.claim(key, token, validUntil, now);
      if (acquired) this.ownedLocks.take(key, token, validUntil, now);
      return acquired;
    } catch (error) {
      throw await this.failure('acquireLock', key, error);
    }
  }

  async releaseLock(key: string): Promise<void> {
    try {
      requireKey('releaseLock', key, this.keyPrefixBytes);
      // Nothing to send when the lock is not ours, was replaced by our record, or another
      // acquisition on this instance still holds it.
      const lock = this.ownedLocks.release(key);
      if (lock === undefined) return;
      try {
        await this.locks.release(key, lock.token);
      } catch (error) {
        // STORAGE_ERROR is recoverable: a second releaseLock must still know the token. (Like
        // any release, the retry ends this instance's latest acquisition of the key, so it
        // belongs before the instance acquires the key again.)
        this.ownedLocks.reinstate(key, lock);
        throw error;
      }
    } catch (error) {
      throw await this.failure('releaseLock', key, error);
    }
  }

  async waitForLock(key: string, timeoutMs: number, pollIntervalMs: number): Promise<void> {
    try {
      requireKey('waitForLock', key, this.keyPrefixBytes);
      requirePositive('waitForLock', 'timeoutMs', timeoutMs);
      requirePositive('waitForLock', 'pollIntervalMs', pollIntervalMs);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { lock, record } = await this.readKey(key);
        const now = Date.now();
        if (lock === null || !isLive(lock.validUntil, now)) {
          if (record !== null) this.waitReceipts.keep(key, record, now);
          return;
        }
        const remaining = deadline - now;
        if (remaining <= 0) {
          throw createError(IdempotencyErrorCode.LOCK_TIMEOUT, LOCK_TIMEOUT_MESSAGE, {
            context: { operation: 'waitForLock', table: this.options.table, key, timeoutMs },
          });
        }
        await sleep(Math.min(pollIntervalMs, remaining));
      }
    } catch (error) {
      throw await this.failure('waitForLock', key, error);
    }
  }

  /**
   * Every method's failure leaves through here: a STORAGE_ERROR unless it is already ours, and
   * the installed core's `IdempotencyError` class where there is one.
   */
  private failure(operation: Operation, key: unknown, error: unknown): Promise<unknown> {
    const { table, pkField, skField } = this.options;
    return adoptCoreError(
      asAdapterError(operation, table, key, error, describeKey(pkField, skField)),
    );
  }
}
