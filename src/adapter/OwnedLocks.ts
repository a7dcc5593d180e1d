interface OwnedLock {
  /** Token of the latest acquisition: the one the lock item carries while it is ours. */
  token: string;
  validUntil: number;
  /** Acquisitions on this instance not yet released, so an older one cannot free a newer; 0 when
   * only a failed release is remembered, for a retry. */
  holders: number;
  /** Set by a fresh claim, cleared by the first `get` after it (the core's double check). */
  claimReceipt: boolean;
}

/**
 * The locks this adapter instance holds, by cache key: the owner token it wrote (so release
 * can be conditioned on it), how many acquisitions on this instance are still outstanding,
 * and whether the claim's proof of "no live record" is still unread. Entries leave on the
 * last release, on `set`, or once lapsed.
 */
export class OwnedLocks {
  private readonly byKey = new Map<string, OwnedLock>();
  private sweepAtSize = 64;

  take(key: string, token: string, validUntil: number, now: number): void {
    const held = this.byKey.get(key);
    // holders 0: only a failed release is remembered; this claim replaced that lock item.
    if (held !== undefined && held.holders > 0) {
      // A takeover of our own lapsed lock: the older acquisition is still running somewhere.
      Object.assign(held, { token, validUntil, claimReceipt: true, holders: held.holders + 1 });
      return;
    }
    this.byKey.set(key, { token, validUntil, holders: 1, claimReceipt: true });
    if (this.byKey.size >= this.sweepAtSize) this.sweepLapsed(now);
  }

  /**
   * True once after a claim that is still valid: the claim's condition already proved that no
   * live record existed, so the core's double-check read can be answered without a request.
   */
  consumeClaimReceipt(key: string, now: number): boolean {
    const lock = this.byKey.get(key);
    if (lock === undefined || !lock.claimReceipt || now > lock.validUntil) return false;
    lock.claimReceipt = false;
    return true;
  }

  /**
   * Ends one acquisition. Returns the lock to release the item with (its token) when it was
   * the last one outstanding, undefined when none is held or others on this instance still are.
   */
  release(key: string): Readonly<OwnedLock> | undefined {
    const lock = this.byKey.get(key);
    if (lock === undefined) return undefined;
    if (lock.holders > 1) {
      lock.holders -= 1;
      return undefined;
    }
    this.byKey.delete(key);
    return lock;
  }

  /**
   * Remembers a lock whose release request failed, so that releasing again retries it. It
   * counts as no outstanding acquisition: a newer claim of the key on this instance replaces it.
   */
  reinstate(key: string, lock: Readonly<OwnedLock>): void {
    if (!this.byKey.has(key)) this.byKey.set(key, { ...lock, holders: 0, claimReceipt: false });
  }

  /** The lock item is gone (replaced by a record): nothing is left to release. */
  forget(key: string): void {
    this.byKey.delete(key);
  }

  // Locks whose holder never released (a caller that bypasses the core) would otherwise stay
  // forever; sweeping when the map doubles keeps the cost amortised O(1) per acquisition.
  private sweepLapsed(now: number): void {
    for (const [key, lock] of this.byKey) {
      if (now > lock.validUntil) this.byKey.delete(key);
    }
    this.sweepAtSize = Math.max(64, this.byKey.size * 2);
  }
}
