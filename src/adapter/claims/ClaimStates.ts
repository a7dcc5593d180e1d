import type { KeySlots, KeyStateMap } from '../shared/KeyStateMap.js';
import { isLive } from '../shared/time.js';

/** How long a `get` claim lost to a lock answers the `acquireLock` after it without a request. */
const LOST_VERDICT_MS = 1_000;

/** A lock that `get` wrote on a miss (claim-on-miss mode), not yet confirmed by `acquireLock`. */
export interface PendingClaim {
  readonly token: string;
  readonly ttlMs: number;
  readonly acquiredAt: number;
  readonly validUntil: number;
}

/** `get` claims on this key that lost to a live lock: as many `acquireLock`s answer false. */
export interface LostClaims {
  count: number;
  /** Past this, epoch ms, the verdicts are stale and `acquireLock` asks the table again. */
  until: number;
}

/**
 * A claim's lifetime between the `get` that wrote it and the `acquireLock` that confirms it
 * (claim-on-miss mode): a won claim waits to be confirmed, released or forgotten; a lost one
 * answers the next `acquireLock` for a moment.
 */
export class ClaimStates {
  constructor(private readonly keys: KeyStateMap) {
    keys.sweepWith((slots, now) => {
      if (slots.claim !== undefined && !isLive(slots.claim.validUntil, now)) {
        slots.claim = undefined;
      }
      if (slots.lost !== undefined && !isLive(slots.lost.until, now)) slots.lost = undefined;
    });
  }

  /** A `get` won a claim on a miss; the next `acquireLock` of the key confirms it. */
  keepClaim(key: string, claim: PendingClaim): void {
    this.keys.entry(key, claim.acquiredAt).claim = claim;
  }

  /** The claim a `get` took on the key that nobody confirmed yet, left in place. */
  pendingClaim(key: string): PendingClaim | undefined {
    return this.keys.get(key)?.claim;
  }

  /** A `get` claim lost to a lock whose lease ends at `lockValidUntil`. */
  keepLostClaim(key: string, lockValidUntil: number, now: number): void {
    const slots = this.keys.entry(key, now);
    const lost = slots.lost;
    // A verdict is fresh for a moment, and never outlives the lock it lost to.
    const until = Math.min(lockValidUntil, now + LOST_VERDICT_MS);
    slots.lost =
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
    const slots = this.keys.get(key);
    const lost = slots?.lost;
    if (slots === undefined || lost === undefined) return undefined;
    lost.count -= 1;
    if (lost.count <= 0) {
      slots.lost = undefined;
      this.keys.settle(key, slots);
    }
    return isLive(lost.until, now) ? 'lost' : undefined;
  }

  /**
   * Removes and returns the claim a `get` took and nobody confirmed (to confirm, release or
   * forget it), if it was taken before `claimedBefore`.
   */
  takeClaim(key: string, claimedBefore = Number.POSITIVE_INFINITY): PendingClaim | undefined {
    const slots = this.keys.get(key);
    const claim = slots?.claim;
    if (slots === undefined || claim === undefined || claim.acquiredAt >= claimedBefore) {
      return undefined;
    }
    slots.claim = undefined;
    this.keys.settle(key, slots);
    return claim;
  }

  /** Verdicts of claims that lost, dropped: the next acquireLock asks the table. */
  forgetLost(key: string): void {
    const slots = this.keys.get(key);
    if (slots === undefined) return;
    slots.lost = undefined;
    this.keys.settle(key, slots);
  }

  /** Claims lost to our own lock are moot once it is gone: the next acquireLock asks the table. */
  static forgetLostWithLock(slots: KeySlots): void {
    slots.lost = undefined;
  }
}
