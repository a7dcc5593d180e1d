import { type LeaseLostReason, publish } from '../../events/channels.js';
import type { HeldLock, HeldLocks } from './HeldLocks.js';
import type { LeaseWatch } from './LeaseWatch.js';
import type { LockStore } from './LockStore.js';

/** Renew once a third of the lease has passed: two more chances before it lapses. */
export const RENEW_AT_FRACTION = 1 / 3;
/** Pause before retrying a failed renewal, as a fraction of the lease time left. */
const RETRY_AT_FRACTION = 1 / 4;
/**
 * No renewal write comes sooner than this after the last: at most 10 writes a second per held
 * lock, however short its lease or however often renewals fail.
 */
export const MIN_RENEWAL_INTERVAL_MS = 100;
/**
 * Leases shorter than this are not renewed: renewing one would take a write more often than
 * every `MIN_RENEWAL_INTERVAL_MS`, and a lease that short lapses under one slow request anyway.
 */
export const MIN_RENEWABLE_LEASE_MS = 3 * MIN_RENEWAL_INTERVAL_MS;
/** Node fires a longer timer at once (with a TimeoutOverflowWarning). */
const MAX_DELAY_MS = 2 ** 31 - 1;

export interface LeaseRenewalOptions {
  readonly table: string;
  /** Longest an acquisition is kept alive; the lease then lapses as if renewal were off. */
  readonly maxHoldMs: number;
  /** Called with a renewal's failure, for the storage-error event. */
  readonly onStorageError: (key: string, error: unknown, startedAt: number) => void;
  /** Told of every renewal's answer and of leases that lapsed while renewals failed. */
  readonly watch: LeaseWatch;
}

/**
 * Keeps the leases of the locks this instance holds alive while their holder lives: from a
 * successful claim until `set` replaces the lock, `releaseLock` removes it, a renewal finds the
 * key no longer ours, or the hold cap. Timers are unref'd, so a process with nothing else to do
 * exits while holding a lock; its lease then lapses within one lease length of its last renewal.
 */
export class LeaseRenewal {
  /** Set by `stop()` (the adapter's `disconnect()`): no renewal is sent or scheduled. */
  private stopped = false;

  constructor(
    private readonly locks: LockStore,
    private readonly held: HeldLocks,
    private readonly options: LeaseRenewalOptions,
  ) {}

  /** Stops every renewal; leases held now lapse. `resume()` lets new acquisitions renew again. */
  stop(): void {
    this.stopped = true;
    this.held.stopRenewals();
  }

  resume(): void {
    this.stopped = false;
  }

  /** Schedules the next renewal: when a third of the current lease has passed. */
  start(key: string, lock: HeldLock): void {
    if (this.stopped || lock.ttlMs < MIN_RENEWABLE_LEASE_MS) return;
    const leaseStart = lock.validUntil - lock.ttlMs;
    this.schedule(key, lock, leaseStart + lock.ttlMs * RENEW_AT_FRACTION - Date.now());
  }

  /**
   * Renews at once (at the shortest interval) if a renewal is scheduled: a fence's commit
   * rewrote the lock item with the lease end it knew, which a renewal in between may have
   * passed, and waiters must not see the lease end early.
   */
  refresh(key: string, lock: HeldLock): void {
    if (lock.renewal !== undefined) this.schedule(key, lock, 0);
  }

  private schedule(key: string, lock: HeldLock, delayMs: number): void {
    clearTimeout(lock.renewal);
    const delay = Math.min(MAX_DELAY_MS, Math.max(MIN_RENEWAL_INTERVAL_MS, delayMs));
    lock.renewal = setTimeout(() => void this.renew(key, lock), delay);
    lock.renewal.unref();
  }

  /** Still the acquisition this renewal was for: not released, replaced or re-claimed since. */
  private stillHeld(key: string, lock: HeldLock, token: string): boolean {
    return (
      !this.stopped && this.held.lock(key) === lock && lock.token === token && lock.holders > 0
    );
  }

  private async renew(key: string, lock: HeldLock): Promise<void> {
    lock.renewal = undefined;
    const { token, acquiredAt } = lock;
    if (!this.stillHeld(key, lock, token)) return;
    // A mark that carries the response is the key's record already: no lease is left to keep.
    if (lock.mark?.withRecord) return;
    const capAt = acquiredAt + this.options.maxHoldMs;
    if (lock.validUntil >= capAt) {
      // The lease already reaches the cap: let it lapse there.
      this.reachCap(key, lock);
      return;
    }
    const now = Date.now();
    const validUntil = Math.min(now + lock.ttlMs, capAt);
    // What a late answer puts at risk is the lease being extended.
    const leaseEnd = lock.validUntil;
    lock.renewing = true;
    let outcome: Awaited<ReturnType<LockStore['renew']>>;
    try {
      outcome = await this.locks.renew(key, token, validUntil, lock.mark);
    } catch (error) {
      this.options.onStorageError(key, error, now);
      // Released or replaced meanwhile: the lease ended by our hand, not by lapsing.
      if (!this.stillHeld(key, lock, token)) return;
      this.options.watch.observe('renewal', key, lock, leaseEnd, now);
      const left = lock.validUntil - Date.now();
      if (left > 0) {
        this.schedule(key, lock, left * RETRY_AT_FRACTION);
      } else {
        // The item may still carry our token (nobody claimed the key): releasing still sends.
        this.options.watch.countLapse(lock);
        this.reportLoss(key, lock, 'lapsed');
      }
      return;
    } finally {
      lock.renewing = false;
    }
    if (!this.stillHeld(key, lock, token)) return;
    if (typeof outcome === 'object') {
      // Our own lock, marked by a fence committed where this instance did not see it: the
      // next renewal keeps the mark (none is needed once the mark answers as the record).
      lock.mark = outcome.mark;
      if (!outcome.mark.withRecord) this.schedule(key, lock, 0);
      return;
    }
    if (outcome !== 'renewed') {
      if (lock.storing) {
        // Not judged either: the record that met it is most likely our own.
        // Our own `set` is under way and may be what the renewal met; should it fail, the
        // next renewal tells.
        this.start(key, lock);
        return;
      }
      // Whatever holds the key is not ours: releasing has nothing to delete.
      this.options.watch.observe('renewal', key, lock, leaseEnd, now);
      lock.lost = true;
      this.reportLoss(key, lock, outcome);
      return;
    }
    this.options.watch.observe('renewal', key, lock, leaseEnd, now);
    // A new lease begins: a lapse of it would be a lapse of its own.
    lock.lapseSeen = false;
    lock.validUntil = validUntil;
    lock.renewals += 1;
    publish('leaseRenewed', () => ({
      table: this.options.table,
      key,
      validUntil,
      renewals: lock.renewals,
    }));
    if (validUntil >= capAt) this.reachCap(key, lock);
    else this.start(key, lock);
  }

  private reachCap(key: string, lock: HeldLock): void {
    publish('holdCapReached', () => ({
      table: this.options.table,
      key,
      maxHoldMs: this.options.maxHoldMs,
      validUntil: lock.validUntil,
    }));
  }

  private reportLoss(key: string, lock: HeldLock, reason: LeaseLostReason): void {
    reportLeaseLost(this.options.table, key, lock, reason);
  }
}

/** Says that a lock this instance held is no longer its own, and how long it was held. */
export function reportLeaseLost(
  table: string,
  key: string,
  lock: Pick<HeldLock, 'acquiredAt'>,
  reason: LeaseLostReason,
): void {
  publish('leaseLost', () => ({ table, key, reason, heldMs: Date.now() - lock.acquiredAt }));
}
