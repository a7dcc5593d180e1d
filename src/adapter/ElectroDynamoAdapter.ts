import { randomUUID } from 'node:crypto';
import type { LockEntity } from '../entities/createLockEntity.js';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { adoptCoreError } from '../errors/adoptCoreError.js';
import { IdempotencyError } from '../errors/IdempotencyError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import { type LeaseLostReason, publish } from '../events/channels.js';
import {
  type ElectroDynamoAdapterOptions,
  type ResolvedOptions,
  resolveOptions,
} from '../options.js';
import { describeKey } from '../tableFields.js';
import type { IdempotencyRecord, StorageAdapter } from '../types.js';
import { ClaimOnMiss } from './claims/ClaimOnMiss.js';
import { ClaimStates } from './claims/ClaimStates.js';
import { type FenceDeps, LOST_TO, LockFence } from './fence/Fence.js';
import { acquisitionInScope, noteAcquired } from './fence/FenceScope.js';
import { fenceErrorReason, leaseLostError } from './fence/fenceErrors.js';
import { isMarkRecord, stampRecord } from './fence/marks.js';
import { type HeldLock, HeldLocks } from './locks/HeldLocks.js';
import { LeaseRenewal, reportLeaseLost } from './locks/LeaseRenewal.js';
import { type LeaseHealth, LeaseWatch } from './locks/LeaseWatch.js';
import { LockStore } from './locks/LockStore.js';
import { RecordCache } from './records/RecordCache.js';
import { RecordStore } from './records/RecordStore.js';
import { decodeRecord, encodeRecord, type StoredRecord } from './records/recordCodec.js';
import { createEntities } from './requests/createEntities.js';
import {
  attemptsOf,
  createKeyRead,
  isConditionalCheckFailed,
  type KeyItem,
} from './requests/entityRequests.js';
import { KeyStateMap } from './shared/KeyStateMap.js';
import { asAdapterError, type Operation } from './shared/storageError.js';
import { requireKey, requirePositive } from './shared/validateInput.js';
import { waitUntilFree } from './waits/LockWait.js';
import { WaitReceipts } from './waits/WaitReceipts.js';

/**
 * A `StorageAdapter` that keeps idempotency records and locks in an existing single-table
 * DynamoDB design, as two ElectroDB entities sharing one item per cache key.
 *
 * Requests per flow: a first execution costs 3 (read, claim, store) and a replay 1; with
 * `claimOnMiss`, a first execution costs 2 (claim, store) and a replay 1 rejected claim (2 where
 * the backend does not return the stored item with the rejection).
 */
export class ElectroDynamoAdapter implements StorageAdapter {
  /** The ElectroDB entities, for joining them to your own `Service` or inspecting items. */
  readonly entities: { readonly record: RecordEntity; readonly lock: LockEntity };

  private readonly options: ResolvedOptions;
  /** UTF-8 length of `<prefix><separator>`, the part of every partition key before the cache key. */
  private readonly keyPrefixBytes: number;
  private readonly records: RecordStore;
  private readonly locks: LockStore;
  /** Per cache key, one slot per feature: */
  private readonly keys = new KeyStateMap();
  /** the lock this instance holds, */
  private readonly held = new HeldLocks(this.keys, ClaimStates.forgetLostWithLock);
  /** the lock waits whose `get` is still to come, */
  private readonly waits = new WaitReceipts(this.keys);
  /** and what claims made by `get` (claim-on-miss) found. */
  private readonly claimStates = new ClaimStates(this.keys);
  private readonly renewal: LeaseRenewal | undefined;
  private readonly readKey: (key: string) => Promise<KeyItem>;
  private readonly cache: RecordCache | undefined;
  private readonly claims: ClaimOnMiss | undefined;
  private readonly watch: LeaseWatch;
  /** The fence of each acquisition made in a fence scope, made once when first asked for. */
  private readonly fences = new WeakMap<HeldLock, LockFence>();
  private readonly fenceDeps: FenceDeps;

  /** Throws this package's `IdempotencyError` (code INVALID_CONFIG) for bad options. */
  constructor(options: ElectroDynamoAdapterOptions) {
    this.options = resolveOptions(options);
    this.keyPrefixBytes = Buffer.byteLength(`${this.options.prefix}${this.options.separator}`);
    this.entities = createEntities(this.options);
    const { lowLevelClient, table } = this.options;
    this.records = new RecordStore(this.entities.record, this.entities.lock, lowLevelClient, table);
    this.locks = new LockStore(this.entities.lock, lowLevelClient, table);
    this.fenceDeps = {
      table,
      markTtlMs: this.options.markTtlMs,
      lockEntity: this.entities.lock,
      locks: this.locks,
      onCommitted: (key, lock, mark, leaseEnd) => {
        lock.mark = mark;
        // A renewal that landed after the fence's item was built extended a lease the commit
        // then wrote back shorter; a mark without the response still needs that lease (the
        // holder has a set to come, and its waiters must not stop early).
        if (!mark.withRecord && leaseEnd < lock.validUntil) this.renewal?.refresh(key, lock);
      },
      onLost: (key, lock, reason) => this.loseLock(key, lock, reason),
    };
    this.readKey = createKeyRead(this.entities.record, this.entities.lock, lowLevelClient, table);
    this.watch = new LeaseWatch(table);
    const { localCache, lockRenewal, claimOnMiss } = this.options;
    this.claims =
      claimOnMiss === undefined
        ? undefined
        : new ClaimOnMiss(
            this.locks,
            this.records,
            this.entities,
            this.held,
            this.claimStates,
            this.watch,
            claimOnMiss.lockTtlMs,
          );
    this.cache = localCache === undefined ? undefined : new RecordCache(localCache.maxEntries);
    this.renewal =
      lockRenewal === undefined
        ? undefined
        : new LeaseRenewal(this.locks, this.held, {
            table,
            maxHoldMs: lockRenewal.maxHoldMs,
            // Nobody receives a renewal's error: the event carries the AWS error itself.
            onStorageError: (key, error, startedAt) =>
              this.reportStorageError('renewLock', key, error, error, startedAt),
            watch: this.watch,
          });
  }

  /** The client is connectionless: nothing to prepare, but lease renewal resumes after a disconnect. */
  async connect(): Promise<void> {
    this.renewal?.resume();
  }

  /**
   * Stops renewing the leases this instance holds (they lapse within their ttl), so that no
   * request follows a shutdown. The client belongs to the caller and stays open.
   */
  async disconnect(): Promise<void> {
    this.renewal?.stop();
  }

  /**
   * What this instance has seen of its leases: how many lease-bearing requests it sent, how
   * many were answered with under a third of their lease left (each also published on
   * `leaseAtRisk`), how many leases it found lapsed, and the worst request latency / lease
   * ratio. A lapse count above zero means `lockTtl` is too short for the latency your requests
   * see: raise it before keys start to run twice.
   */
  leaseHealth(): LeaseHealth {
    return this.watch.health();
  }

  async get(key: string): Promise<IdempotencyRecord | null> {
    const startedAt = Date.now();
    try {
      requireKey('get', key, this.keyPrefixBytes);
      const now = startedAt;
      if (this.held.consumeClaimReceipt(key, now)) return null;
      const wait = this.waits.takeReceipt(key, now);
      if (wait?.item !== undefined) {
        const item = await this.records.live(wait.item, now);
        if (item !== null) return decodeRecord(item);
      }
      const cached = this.cache?.get(key, now);
      if (cached !== undefined) return cached;
      const stamp = this.cache?.readStamp();
      // After a lock wait no acquireLock follows: a claim there would be left for nobody.
      const item =
        this.claims !== undefined && wait === undefined
          ? await this.claims.onMiss(key, now)
          : await this.records.getLive(key, Date.now);
      if (item === null) return null;
      const record = decodeRecord(item);
      // A mark's response stands in for the record only until the holder stores the core's.
      if (stamp !== undefined && !isMarkRecord(item)) this.cache?.fill(key, item, stamp);
      return record;
    } catch (error) {
      throw await this.failure('get', key, error, startedAt);
    }
  }

  async set(key: string, record: IdempotencyRecord): Promise<void> {
    const startedAt = Date.now();
    try {
      requireKey('set', key, this.keyPrefixBytes);
      // Encoding first means a record that cannot be stored writes nothing.
      const item = encodeRecord(key, record);
      const stamp = this.cache?.beginWrite(key);
      this.waits.forgetReceipt(key);
      this.claimStates.takeClaim(key);
      // The acquisition this record completes; a newer one taken meanwhile is not its to end.
      // In a fence scope, the one this execution made: another execution of the key on this
      // instance may have taken its lapsed lock over, and must not be mistaken for it.
      const scoped = acquisitionInScope(this, key) as HeldLock | undefined;
      const lock = scoped ?? this.held.lock(key);
      // A holder's record is fenced: stored only while the item still carries its owner token.
      const fenced =
        lock !== undefined && (lock.holders > 0 || (lock === scoped && !lock.ended))
          ? lock
          : undefined;
      if (fenced !== undefined) stampRecord(item, fenced.token, fenced.mark);
      this.held.markStoring(lock, true);
      // A record stored after the holder's lease ended may land over a successor's lock.
      const watched = fenced !== undefined && !fenced.lost ? fenced : undefined;
      const sentAt = Date.now();
      try {
        await this.storeRecord(key, item, fenced);
      } catch (error) {
        // Unless lost, the lock is still ours: renewal goes on judging it, and the release follows.
        this.held.markStoring(lock, false);
        // Only a request that left the process is judged (not a record found too large).
        const sent =
          !(error instanceof IdempotencyError) || fenceErrorReason(error) === 'lease-lost';
        if (watched !== undefined && sent) {
          this.watch.observe('set', key, watched, watched.validUntil, sentAt);
        }
        throw error;
      }
      if (watched !== undefined)
        this.watch.observe('set', key, watched, watched.validUntil, sentAt);
      // The record replaced the lock item: nothing is left to release or renew.
      if (lock !== undefined) this.held.forgetLock(key, lock);
      await this.settleLockTakenDuringSet(key, lock);
      if (stamp !== undefined) this.cache?.fill(key, item, stamp);
    } catch (error) {
      throw await this.failure('set', key, error, startedAt);
    }
  }

  async delete(key: string): Promise<void> {
    const startedAt = Date.now();
    try {
      requireKey('delete', key, this.keyPrefixBytes);
      this.cache?.beginWrite(key);
      this.waits.forgetReceipt(key);
      try {
        await this.records.remove(key);
      } finally {
        // Reads that started while the delete was in flight may have seen the record.
        this.cache?.beginWrite(key);
      }
    } catch (error) {
      throw await this.failure('delete', key, error, startedAt);
    }
  }

  async acquireLock(key: string, ttlMs: number): Promise<boolean> {
    const startedAt = Date.now();
    try {
      requireKey('acquireLock', key, this.keyPrefixBytes);
      requirePositive('acquireLock', 'ttlMs', ttlMs);
      const now = startedAt;
      // A claim-on-miss get may have claimed already, or lost to another's lock.
      let lock = await this.claims?.confirm(key, ttlMs, now);
      if (lock === false) return false;
      if (lock === undefined) {
        const token = randomUUID();
        // After a claim-on-miss rewrite that found the key emptied, the claim starts later.
        const sentAt = Date.now();
        if (!(await this.locks.claim(key, token, sentAt + ttlMs, sentAt))) return false;
        lock = this.held.takeLock(key, token, ttlMs, sentAt);
        // Our claim found no live item: a get claim still pending here was overwritten.
        this.claimStates.takeClaim(key);
        this.watch.observe('claim', key, lock, lock.validUntil, sentAt);
      }
      this.renewal?.start(key, lock);
      this.enterFenceScope(key, lock);
      return true;
    } catch (error) {
      throw await this.failure('acquireLock', key, error, startedAt);
    }
  }

  async releaseLock(key: string): Promise<void> {
    const startedAt = Date.now();
    try {
      requireKey('releaseLock', key, this.keyPrefixBytes);
      // Nothing to send when the lock is not ours, was replaced by our record, another
      // acquisition on this instance still holds it, or a renewal found it someone else's.
      const lock = this.held.releaseLock(key);
      if (lock === undefined) {
        await this.releaseClaim(key);
        return;
      }
      if (lock.lost) return;
      const sentAt = Date.now();
      try {
        await this.locks.release(key, lock.token, lock.mark);
        this.watch.observe('release', key, { ...lock }, lock.validUntil, sentAt);
      } catch (error) {
        this.watch.observe('release', key, { ...lock }, lock.validUntil, sentAt);
        // STORAGE_ERROR is recoverable: a second releaseLock must still know the token. (Like
        // any release, the retry ends this instance's latest acquisition of the key, so it
        // belongs before the instance acquires the key again.)
        this.held.reinstate(key, lock);
        throw error;
      }
    } catch (error) {
      throw await this.failure('releaseLock', key, error, startedAt);
    }
  }

  /**
   * Stores the record; a holder's only while the key's item still carries its owner token. A
   * mark our fence left there unseen by this instance (its transaction sent by other means)
   * is carried into the record, with one more put; anything else holding the key means the lock
   * is lost: nothing is written, CONFLICT.
   */
  private async storeRecord(
    key: string,
    item: StoredRecord,
    fenced: HeldLock | undefined,
  ): Promise<void> {
    if (fenced === undefined) {
      await this.records.put(item);
      return;
    }
    let rejection: unknown;
    try {
      await this.records.put(item, fenced.mark === undefined ? 'owner-unmarked' : 'owner');
      return;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      rejection = error;
    }
    let holder = await this.locks.holderAfterRejection(key, rejection);
    const mark = this.locks.ownMark(holder, fenced.token);
    if (mark !== undefined) {
      fenced.mark = mark;
      stampRecord(item, fenced.token, mark);
      try {
        await this.records.put(item, 'owner');
        return;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        holder = await this.locks.holderAfterRejection(key, error);
      }
    }
    const reason = this.locks.lossOf(holder);
    this.loseLock(key, fenced, reason);
    throw leaseLostError('set', this.options.table, key, LOST_TO[reason]);
  }

  /** A held lock found to be someone else's: no renewal, no release request, and it is said. */
  private loseLock(key: string, lock: HeldLock, reason: Exclude<LeaseLostReason, 'lapsed'>): void {
    if (lock.lost) return;
    lock.lost = true;
    clearTimeout(lock.renewal);
    lock.renewal = undefined;
    reportLeaseLost(this.options.table, key, lock, reason);
  }

  /**
   * An acquisition of the key this instance made while its record was on the way (a caller
   * bypassing the core) may have been replaced by that record, or may have landed after it.
   * One consistent read, only in that race, tells: a lock the record replaced is forgotten,
   * as `set` forgets the lock it completes. If the read fails, the lock is kept but its claim
   * no longer vouches for an empty key: the double check reads, renewal and release find out.
   */
  private async settleLockTakenDuringSet(
    key: string,
    completed: HeldLock | undefined,
  ): Promise<void> {
    const newer = this.held.lock(key);
    if (newer === undefined || newer === completed) return;
    try {
      if ((await this.locks.ownerOf(key)) !== newer.token) this.held.forgetLock(key, newer);
    } catch {
      this.held.doubtClaimReceipt(key, completed);
    }
  }

  /** The fence scope this acquisition runs in (if any) can hand out its fence while it is held. */
  private enterFenceScope(key: string, lock: HeldLock): void {
    noteAcquired({
      holder: this,
      key,
      acquisition: lock,
      fence: () => {
        if (lock.ended || lock.holders === 0) return undefined;
        let fence = this.fences.get(lock);
        if (fence === undefined) {
          fence = new LockFence(key, lock, this.fenceDeps);
          this.fences.set(lock, fence);
        }
        return fence;
      },
    });
  }

  /** A claim `get` took that no acquireLock confirmed is given up as a lock would be. */
  private async releaseClaim(key: string): Promise<void> {
    const claim = this.claimStates.takeClaim(key);
    if (claim === undefined) return;
    // Gets that lost to this claim would answer the next acquireLock false: it is going.
    this.claimStates.forgetLost(key);
    try {
      await this.locks.release(key, claim.token);
    } catch (error) {
      this.claimStates.keepClaim(key, claim);
      throw error;
    }
  }

  async waitForLock(key: string, timeoutMs: number, pollIntervalMs: number): Promise<void> {
    const startedAt = Date.now();
    try {
      requireKey('waitForLock', key, this.keyPrefixBytes);
      requirePositive('waitForLock', 'timeoutMs', timeoutMs);
      requirePositive('waitForLock', 'pollIntervalMs', pollIntervalMs);
      await waitUntilFree(this.readKey, this.waits, this.options.table, key, {
        startedAt,
        timeoutMs,
        pollIntervalMs,
      });
    } catch (error) {
      throw await this.failure('waitForLock', key, error, startedAt);
    }
  }

  /**
   * Every method's failure leaves through here: a STORAGE_ERROR unless it is already ours, and
   * the installed core's `IdempotencyError` class where there is one.
   */
  private async failure(
    operation: Operation,
    key: unknown,
    error: unknown,
    startedAt: number,
  ): Promise<unknown> {
    const { table, pkField, skField } = this.options;
    const adapterError = asAdapterError(
      operation,
      table,
      key,
      error,
      describeKey(pkField, skField),
    );
    const thrown = await adoptCoreError(adapterError);
    if (adapterError.code === IdempotencyErrorCode.STORAGE_ERROR) {
      this.reportStorageError(operation, key, thrown, adapterError.cause, startedAt);
    }
    return thrown;
  }

  /** `thrown` is what the caller receives; `cause` the AWS error, whose metadata counts attempts. */
  private reportStorageError(
    operation: Operation | 'renewLock',
    key: unknown,
    thrown: unknown,
    cause: unknown,
    startedAt: number,
  ): void {
    publish('storageError', () => ({
      table: this.options.table,
      key: String(key),
      operation,
      // An error with no count never left the process.
      attempts: attemptsOf(cause, 0),
      durationMs: Date.now() - startedAt,
      error: thrown instanceof Error ? thrown : new Error(String(thrown)),
    }));
  }
}
