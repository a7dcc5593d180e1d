import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { isLive } from './time.js';

/** How long after the poll that saw it a record may answer the `get` that follows. */
const RECEIPT_MS = 1_000;
/** How long a `get` claim lost to a lock answers the `acquireLock` after it without a request. */
const LOST_VERDICT_MS = 1_000;
/**
 * How long a finished wait is remembered for the `get` that follows it, which the core makes at
 * once; only a caller that waits and never reads leaves one this old, for the sweep to drop.
 */
const WAIT_MARK_MS = 60_000;

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
}

/**
 * Lock waits on the key that have returned and whose `get` has not come yet, with the record
 * (if any) the last of them found in place of the lock.
 */
interface WaitReceipt {
  item: EntityItem<RecordEntity> | null;
  seenAt: number;
  waits: number;
}

/** What the `get` after a lock wait may use: the record the wait found, while fresh. */
export interface FinishedWait {
  readonly item: EntityItem<RecordEntity> | undefined;
}

/** A lock that `get` wrote on a miss (claim-on-miss mode), not yet confirmed by `acquireLock`. */
export interface PendingClaim {
  readonly token: string;
  readonly ttlMs: number;
  readonly acquiredAt: number;
  readonly validUntil: number;
}

/** `get` claims on this key that lost to a live lock: as many `acquireLock`s answer false. */
interface LostClaims {
  count: number;
  /** Past this, epoch ms, the verdicts are stale and `acquireLock` asks the table again. */
  until: number;
}

interface KeyState {
  lock: HeldLock | undefined;
  receipt: WaitReceipt | undefined;
  claim: PendingClaim | undefined;
  lost: LostClaims | undefined;
}

/**
 * Everything this adapter instance remembers per cache key, in one place: the lock it holds
 * (owner token, acquisitions outstanding, the claim's proof that no record existed, the
 * renewal timer), the lock waits whose `get` is still to come (with the record the last one
 * saw), and in claim-on-miss mode what `get`'s claims found for the `acquireLock` after them.
 * An entry leaves as soon as none of these is left; entries a caller abandoned (a lock never
 * released, a receipt never collected) are swept once lapsed, whenever the map has doubled, so
 * the cost stays amortised O(1).
 */
export class KeyStates {
  private readonly byKey = new Map<string, KeyState>();
  private sweepAtSize = 64;

  lock(key: string): HeldLock | undefined {
    return this.byKey.get(key)?.lock;
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
    const state = this.entry(key, acquiredAt);
    const held = state.lock;
    if (held !== undefined) clearTimeout(held.renewal);
    state.lock = {
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
    };
    return state.lock;
  }

  /**
   * True once after a claim that is still valid: the claim's condition already proved that no
   * live record existed, so the core's double-check read can be answered without a request.
   */
  consumeClaimReceipt(key: string, now: number): boolean {
    const lock = this.byKey.get(key)?.lock;
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
    const state = this.byKey.get(key);
    const lock = state?.lock;
    if (state === undefined || lock === undefined) return undefined;
    if (lock.holders > 1) {
      lock.holders -= 1;
      return undefined;
    }
    this.dropLock(key, state);
    return lock;
  }

  /**
   * Remembers a lock whose release request failed, so that releasing again retries it. It
   * counts as no outstanding acquisition and is not renewed: a newer claim of the key on this
   * instance replaces it.
   */
  reinstate(key: string, lock: Readonly<HeldLock>): void {
    const state = this.entry(key, Date.now());
    if (state.lock === undefined) {
      state.lock = {
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
  markStoring(key: string, storing: boolean): void {
    const lock = this.byKey.get(key)?.lock;
    if (lock !== undefined) lock.storing = storing;
  }

  /** Stops every renewal timer: the adapter is being shut down. Leases then lapse. */
  stopRenewals(): void {
    for (const state of this.byKey.values()) {
      if (state.lock === undefined) continue;
      clearTimeout(state.lock.renewal);
      state.lock.renewal = undefined;
    }
  }

  /** The lock item is gone (replaced by our record): nothing is left to release or renew. */
  forgetLock(key: string): void {
    const state = this.byKey.get(key);
    if (state !== undefined) this.dropLock(key, state);
  }

  /** A lock wait returned; `item` is the record it found in place of the lock, if any. */
  keepReceipt(key: string, item: EntityItem<RecordEntity> | null, now: number): void {
    const state = this.entry(key, now);
    const waits = (state.receipt?.waits ?? 0) + 1;
    state.receipt = { item, seenAt: now, waits };
  }

  /**
   * Whether a lock wait on the key returned and its `get` is still to come (then this is that
   * `get`), with the record the wait found while it is fresh. Undefined when no wait is pending.
   */
  takeReceipt(key: string, now: number): FinishedWait | undefined {
    const state = this.byKey.get(key);
    const receipt = state?.receipt;
    if (state === undefined || receipt === undefined) return undefined;
    receipt.waits -= 1;
    if (receipt.waits <= 0) {
      state.receipt = undefined;
      this.dropIfEmpty(key, state);
    }
    const fresh = receipt.item !== null && now - receipt.seenAt <= RECEIPT_MS;
    return { item: fresh ? (receipt.item ?? undefined) : undefined };
  }

  /** The key's record changed here: a record a wait saw is stale (the waits still count). */
  forgetReceipt(key: string): void {
    const receipt = this.byKey.get(key)?.receipt;
    if (receipt !== undefined) receipt.item = null;
  }

  /** A `get` won a claim on a miss; the next `acquireLock` of the key confirms it. */
  keepClaim(key: string, claim: PendingClaim): void {
    this.entry(key, claim.acquiredAt).claim = claim;
  }

  /** A `get` claim lost to a lock whose lease ends at `lockValidUntil`. */
  keepLostClaim(key: string, lockValidUntil: number, now: number): void {
    const state = this.entry(key, now);
    const lost = state.lost;
    // A verdict is fresh for a moment, and never outlives the lock it lost to.
    const until = Math.min(lockValidUntil, now + LOST_VERDICT_MS);
    state.lost =
      lost === undefined || now > lost.until
        ? { count: 1, until }
        : { count: lost.count + 1, until: Math.min(lost.until, until) };
  }

  /**
   * What `get` learned for the `acquireLock` that follows it: a claim it won and that is still
   * ours (preferred: whichever caller confirms it, one of them runs), or a claim it lost while
   * that verdict is fresh. Each is given out once; undefined means the table must be asked.
   */
  takeClaimVerdict(key: string, now: number): PendingClaim | 'lost' | undefined {
    const claim = this.takeClaim(key);
    if (claim !== undefined && isLive(claim.validUntil, now)) return claim;
    const state = this.byKey.get(key);
    const lost = state?.lost;
    if (state === undefined || lost === undefined) return undefined;
    lost.count -= 1;
    if (lost.count <= 0) {
      state.lost = undefined;
      this.dropIfEmpty(key, state);
    }
    return isLive(lost.until, now) ? 'lost' : undefined;
  }

  /**
   * Removes and returns the claim a `get` took and nobody confirmed (to confirm, release or
   * forget it), if it was taken before `claimedBefore`.
   */
  takeClaim(key: string, claimedBefore = Number.POSITIVE_INFINITY): PendingClaim | undefined {
    const state = this.byKey.get(key);
    const claim = state?.claim;
    if (state === undefined || claim === undefined || claim.acquiredAt >= claimedBefore) {
      return undefined;
    }
    state.claim = undefined;
    this.dropIfEmpty(key, state);
    return claim;
  }

  /** Keys with any state: what a leak would grow. */
  get size(): number {
    return this.byKey.size;
  }

  /** The key's entry, made if there is none; the map only grows here, so it is swept here. */
  private entry(key: string, now: number): KeyState {
    let state = this.byKey.get(key);
    if (state === undefined) {
      // Before the new entry exists: an empty entry would be swept away.
      if (this.byKey.size >= this.sweepAtSize) this.sweep(now);
      state = { lock: undefined, receipt: undefined, claim: undefined, lost: undefined };
      this.byKey.set(key, state);
    }
    return state;
  }

  private dropLock(key: string, state: KeyState): void {
    clearTimeout(state.lock?.renewal);
    state.lock = undefined;
    // Claims lost to our lock are moot once it is gone: the next acquireLock asks the table.
    state.lost = undefined;
    this.dropIfEmpty(key, state);
  }

  private dropIfEmpty(key: string, state: KeyState): void {
    if (
      state.lock === undefined &&
      state.receipt === undefined &&
      state.claim === undefined &&
      state.lost === undefined
    ) {
      this.byKey.delete(key);
    }
  }

  // A lock still being renewed is alive whatever its validUntil; a lapsed one that is not was
  // abandoned by a caller that bypasses the core, as is a lapsed unconfirmed claim. A wait's
  // get comes at once, so an old wait mark was left by a caller that never read.
  private sweep(now: number): void {
    for (const [key, state] of this.byKey) {
      const lock = state.lock;
      const renewed = lock?.renewal !== undefined || lock?.renewing === true;
      if (lock !== undefined && !renewed && now > lock.validUntil) {
        state.lock = undefined;
      }
      if (state.receipt !== undefined && now - state.receipt.seenAt > WAIT_MARK_MS) {
        state.receipt = undefined;
      }
      if (state.claim !== undefined && !isLive(state.claim.validUntil, now)) {
        state.claim = undefined;
      }
      if (state.lost !== undefined && !isLive(state.lost.until, now)) state.lost = undefined;
      this.dropIfEmpty(key, state);
    }
    this.sweepAtSize = Math.max(64, this.byKey.size * 2);
  }
}
