import { randomUUID } from 'node:crypto';
import type { EntityItem } from 'electrodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { markAsRecord } from '../fence/marks.js';
import type { HeldLock, HeldLocks } from '../locks/HeldLocks.js';
import { RENEW_AT_FRACTION } from '../locks/LeaseRenewal.js';
import type { LeaseWatch } from '../locks/LeaseWatch.js';
import type { LockStore } from '../locks/LockStore.js';
import type { RecordStore } from '../records/RecordStore.js';
import { parseAs } from '../requests/entityRequests.js';
import { isLive } from '../shared/time.js';
import type { ClaimStates } from './ClaimStates.js';

/** The core's `lockTtl` when none is configured (it defaults to `lockTimeout`, 30 s). */
export const CORE_DEFAULT_LOCK_TTL_MS = 30_000;

/**
 * Claim-on-miss: the core's first `get` of a key writes the lock itself, so that a first
 * execution costs two requests (claim, store) instead of three (read, claim, store).
 *
 * The `get` sends the claim `acquireLock` would send. Won, it answers "no record" and the
 * `acquireLock` that follows confirms the claim without a request; lost to a live record, the
 * record comes back with the rejection (or from one read where it does not) and is the answer;
 * lost to a live lock, the `acquireLock` that follows answers false without a request.
 *
 * The core gives its `lockTtl` only to `acquireLock`, so the claim is written with a configured
 * lease, else the one last asked for by an `acquireLock` that confirmed a claim, else the core's
 * default; an `acquireLock` asking for another lease rewrites the claim's lease with its owner
 * token, once. A claim that fails outright is decided by one read, and the lock is remembered
 * per key in `ClaimStates` until an `acquireLock` (or `releaseLock`) takes it.
 */
export class ClaimOnMiss {
  private ttlMs: number;

  constructor(
    private readonly locks: LockStore,
    private readonly records: RecordStore,
    private readonly entities: { readonly record: RecordEntity; readonly lock: LockEntity },
    private readonly held: HeldLocks,
    private readonly claims: ClaimStates,
    private readonly watch: LeaseWatch,
    lockTtlMs: number | undefined,
    private readonly learnsTtl = lockTtlMs === undefined,
  ) {
    this.ttlMs = lockTtlMs ?? CORE_DEFAULT_LOCK_TTL_MS;
  }

  /**
   * The `get` of a key with no record in this instance's reach: claims it. Returns the live
   * record that holds the key, or null (claimed, or locked by someone, or just emptied).
   */
  async onMiss(key: string, now: number): Promise<EntityItem<RecordEntity> | null> {
    const held = this.held.lock(key);
    if (held !== undefined && held.holders > 0 && !held.lost) {
      if (isLive(held.validUntil, now)) {
        // Another execution on this instance holds the key: this caller waits, as a lost claim
        // would.
        this.claims.keepLostClaim(key, held.validUntil, now);
        return null;
      }
      // Our own lease has lapsed (the core's double check after a stall, say): a claim would take
      // the key from our own execution. A plain read tells whether another caller completed it.
      return this.records.getLive(key, Date.now);
    }
    const token = randomUUID();
    const ttlMs = this.ttlMs;
    const validUntil = now + ttlMs;
    const outcome = await this.locks.claimOrFindHolder(key, token, validUntil, now);
    if (outcome.acquired) {
      this.watch.observe('claim', key, { ttlMs }, validUntil, now);
      // Two won claims of this instance cannot both stand: one was replaced (by a record since
      // deleted) before the other landed. Neither when their gets began nor the order their
      // answers came in tells which landed last: one read, only in that race, does.
      const pending = this.claims.pendingClaim(key);
      if (pending === undefined || (await this.ownerOf(key)) !== pending.token) {
        this.claims.keepClaim(key, { token, ttlMs, acquiredAt: now, validUntil });
      }
      return null;
    }
    // Emptied between the rejection and the read: the acquireLock that follows asks the table.
    if (outcome.holder === undefined) return null;
    const checkedAt = Date.now();
    const lock = parseAs(this.entities.lock, outcome.holder);
    // A fence's mark that carries a response answers as the record it stands for.
    const marked = markAsRecord(lock);
    if (lock !== null && marked === null) {
      if (isLive(lock.validUntil, checkedAt))
        this.claims.keepLostClaim(key, lock.validUntil, checkedAt);
      return null;
    }
    const item = await this.records.live(
      marked ?? parseAs(this.entities.record, outcome.holder),
      checkedAt,
    );
    // A record replaced a claim of ours that an earlier get took and nobody confirmed: it must
    // not be confirmed now. (A claim taken after this get began is newer than what it saw.)
    if (item !== null) this.claims.takeClaim(key, now);
    return item;
  }

  /** The owner token of the key's lock item, by one consistent read; undefined if that fails. */
  private async ownerOf(key: string): Promise<string | undefined> {
    try {
      return await this.locks.ownerOf(key);
    } catch {
      return undefined;
    }
  }

  /**
   * `acquireLock` after a `get` that claimed: the held lock when the claim is confirmed, false
   * when the claim was lost to a live lock, undefined when the table must be asked (no claim,
   * its verdict is stale, or the claimed lock has vanished).
   */
  async confirm(key: string, ttlMs: number, now: number): Promise<HeldLock | false | undefined> {
    const verdict = this.claims.takeClaimVerdict(key, now);
    if (verdict === 'lost') return false;
    if (verdict === undefined) return undefined;
    // Learnt only from the acquireLock that follows a claim: what other code asks for elsewhere
    // on this instance says nothing about the core's lockTtl.
    if (this.learnsTtl) this.ttlMs = ttlMs;
    const { token, acquiredAt } = verdict;
    const leaseLeft = verdict.validUntil - now;
    // Through the core the claim is microseconds old; a caller that confirms late, or asks for
    // another lease, gets the lease it asked for, from now, written under the claim's token.
    if (verdict.ttlMs === ttlMs && leaseLeft >= ttlMs * (1 - RENEW_AT_FRACTION)) {
      return this.held.takeLock(key, token, ttlMs, acquiredAt, verdict.validUntil);
    }
    const validUntil = now + ttlMs;
    // The rewrite renews the claim's lease under its token: a late answer puts that lease at risk.
    const claimLease = { ttlMs: verdict.ttlMs };
    let outcome: Awaited<ReturnType<LockStore['renew']>>;
    try {
      outcome = await this.locks.renew(key, token, validUntil);
    } catch (error) {
      this.watch.observe('claim', key, claimLease, verdict.validUntil, now);
      // The claim is still ours in the table: kept, a retried acquireLock rewrites it again.
      this.claims.keepClaim(key, verdict);
      throw error;
    }
    this.watch.observe('claim', key, claimLease, verdict.validUntil, now);
    if (outcome !== 'renewed') return outcome === 'removed' ? undefined : false;
    return this.held.takeLock(key, token, ttlMs, acquiredAt, validUntil);
  }
}
