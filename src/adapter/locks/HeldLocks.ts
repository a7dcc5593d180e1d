import type { Mark } from '../fence/marks.js';
import type { KeySlots, KeyStateMap } from '../shared/KeyStateMap.js';

/** A lock this instance holds (or, with `holders` 0, failed to release and may retry). */
export interface HeldLock {
  /** Token of the latest acquisition: the one the lock item carries while it is ours. */
  token: string;
  /** The lease length the latest acquisition was taken with; each renewal extends it by this much. */
  ttlMs: number;
  /** End of the lease as last written, epoch ms. */
  validUntil: number;
  /** When the latest acquisition claimed the key, epoch ms: the hold cap counts from here. */
  acquiredAt: number;
  /** Acquisitions on this instance not yet released, so an older one cannot free a newer; 0
   * when only a failed release is remembered, for a retry. */
  holders: number;
  /** Set by a fresh claim, cleared by the first `get` after it (the core's double check). */
  claimReceipt: boolean;
  /** The claim receipt holds until then, epoch ms: the end of the lease the claim wrote. */
  receiptUntil: number;
  /** The pending renewal, while one is scheduled. */
  renewal: NodeJS.Timeout | undefined;
  /** A renewal request is in flight. */
  renewing: boolean;
  /** Renewals written for the latest acquisition. */
  renewals: number;
  /** A renewal found the key no longer ours: releasing needs no request. */
  lost: boolean;
  /** This instance is storing the key's record: a renewal that meets a record now may have met
   * our own, so it proves no loss. */
  storing: boolean;
  /** This acquisition's lapse was counted (`LeaseWatch`). */
  lapseSeen: boolean;
  /** What a committed fence of this acquisition left on the key (renewal and `set` keep it). */
  mark: Mark | undefined;
  /** Released, or replaced by its record: this acquisition's execution is done with the key. A
   * lock another acquisition on the instance took over is not ended: its execution goes on, and
   * its fence and `set` find out that the key is no longer theirs. */
  ended: boolean;
}

/**
 * A lock's lifetime on this instance: taken by a claim, counted per acquisition, marked while
 * its record is stored, and dropped at release, at `set`, or when a lapse nothing renews is
 * swept. How the lock item itself is written lives in `LockStore`; its renewal in
 * `LeaseRenewal`.
 */
export class HeldLocks {
  /**
   * @param onDropped runs when a key's lock is gone from this instance, before its entry may
   * leave the map: state other features keep only while the lock lives goes with it.
   */
  constructor(
    private readonly keys: KeyStateMap,
    private readonly onDropped: (slots: KeySlots) => void = () => {},
  ) {
    // A lock still being renewed is alive whatever its validUntil; a lapsed one that is not
    // was abandoned by a caller that bypasses the core.
    keys.sweepWith((slots, now) => {
      const lock = slots.lock;
      if (lock === undefined) return;
      const renewed = lock.renewal !== undefined || lock.renewing;
      if (!renewed && now > lock.validUntil) slots.lock = undefined;
    });
  }

  lock(key: string): HeldLock | undefined {
    return this.keys.get(key)?.lock;
  }

  /**
   * Records a successful claim and returns the held lock. When an acquisition on this instance
   * is still outstanding (a takeover of our own lapsed lock), the new lock counts both, so the
   * older one's release cannot free it; a remembered failed release (holders 0) just gives way.
   * The older lock's renewal stops: the item now carries the new token.
   */
  takeLock(
    key: string,
    token: string,
    ttlMs: number,
    acquiredAt: number,
    validUntil = acquiredAt + ttlMs,
  ): HeldLock {
    const slots = this.keys.entry(key, acquiredAt);
    const held = slots.lock;
    if (held !== undefined) clearTimeout(held.renewal);
    slots.lock = {
      token,
      ttlMs,
      validUntil,
      acquiredAt,
      holders: (held?.holders ?? 0) + 1,
      claimReceipt: true,
      receiptUntil: validUntil,
      renewal: undefined,
      renewing: false,
      renewals: 0,
      lost: false,
      storing: false,
      lapseSeen: false,
      mark: undefined,
      ended: false,
    };
    return slots.lock;
  }

  /**
   * True once after a claim that is still valid: the claim's condition already proved that no
   * live record existed, so the core's double-check read can be answered without a request.
   */
  consumeClaimReceipt(key: string, now: number): boolean {
    const lock = this.keys.get(key)?.lock;
    // The proof dates from the claim: renewals extend the lease, not the proof's lifetime.
    if (lock === undefined || !lock.claimReceipt || now > lock.receiptUntil) {
      return false;
    }
    lock.claimReceipt = false;
    return true;
  }

  /**
   * Ends one acquisition. Returns the lock to release the item with (its token) when it was
   * the last one outstanding, undefined when none is held or others on this instance still are.
   * Renewal stops with the last one.
   */
  releaseLock(key: string): Readonly<HeldLock> | undefined {
    const slots = this.keys.get(key);
    const lock = slots?.lock;
    if (slots === undefined || lock === undefined) return undefined;
    if (lock.holders > 1) {
      lock.holders -= 1;
      return undefined;
    }
    this.dropLock(key, slots);
    return lock;
  }

  /**
   * Remembers a lock whose release request failed, so that releasing again retries it. It
   * counts as no outstanding acquisition and is not renewed: a newer claim of the key on this
   * instance replaces it.
   */
  reinstate(key: string, lock: Readonly<HeldLock>): void {
    const slots = this.keys.entry(key, Date.now());
    if (slots.lock === undefined) {
      slots.lock = {
        ...lock,
        holders: 0,
        claimReceipt: false,
        renewal: undefined,
        renewing: false,
      };
    }
  }

  /**
   * Marks the holder as storing the key's record (`storing` true) or done trying (false: the
   * store failed, the lock is still ours to renew and release). While it stores, a renewal that
   * meets a record may have met our own.
   */
  markStoring(lock: HeldLock | undefined, storing: boolean): void {
    if (lock !== undefined) lock.storing = storing;
  }

  /** Stops every renewal timer: the adapter is being shut down. Leases then lapse. */
  stopRenewals(): void {
    for (const slots of this.keys.values()) {
      if (slots.lock === undefined) continue;
      clearTimeout(slots.lock.renewal);
      slots.lock.renewal = undefined;
    }
  }

  /**
   * The lock item of `lock`'s acquisition is gone (replaced by our record): nothing is left to
   * release or renew. A newer acquisition of the key on this instance, taken while the record
   * was on its way, is a lock of its own and stays.
   */
  forgetLock(key: string, lock: HeldLock): void {
    const slots = this.keys.get(key);
    if (slots !== undefined && slots.lock === lock) this.dropLock(key, slots);
  }

  /**
   * A record of ours landed while a newer acquisition of the key, taken on this instance during
   * its way, may or may not have been replaced by it: that acquisition's claim no longer proves
   * the key empty, so its double check reads the table (its renewal and release, conditioned on
   * its token, find out the rest).
   */
  doubtClaimReceipt(key: string, except: HeldLock | undefined): void {
    const lock = this.keys.get(key)?.lock;
    if (lock !== undefined && lock !== except) lock.claimReceipt = false;
  }

  private dropLock(key: string, slots: KeySlots): void {
    clearTimeout(slots.lock?.renewal);
    if (slots.lock !== undefined) slots.lock.ended = true;
    slots.lock = undefined;
    this.onDropped(slots);
    this.keys.settle(key, slots);
  }
}
