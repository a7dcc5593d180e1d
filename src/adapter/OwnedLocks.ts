interface OwnedLock {
  readonly token: string;
  readonly validUntil: number;
  /** Set by a fresh claim, cleared by the first `get` after it (the core's double check). */
  claimReceipt: boolean;
}

/**
 * The locks this adapter instance holds, by cache key: the owner token it wrote (so release
 * can be conditioned on it) and whether the claim's proof of "no live record" is still unread.
 * Entries leave on release, on `set`, or once lapsed, so memory stays bounded by live locks.
 */
export class OwnedLocks {
  private readonly byKey = new Map<string, OwnedLock>();

  get size(): number {
    return this.byKey.size;
  }

  take(key: string, token: string, validUntil: number, now: number): void {
    this.pruneLapsed(now);
    // Re-insert so the map stays ordered by claim time, which keeps pruning cheap.
    this.byKey.delete(key);
    this.byKey.set(key, { token, validUntil, claimReceipt: true });
  }

  tokenOf(key: string): string | undefined {
    return this.byKey.get(key)?.token;
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

  forget(key: string): void {
    this.byKey.delete(key);
  }

  private pruneLapsed(now: number): void {
    for (const [key, lock] of this.byKey) {
      if (now <= lock.validUntil) break;
      this.byKey.delete(key);
    }
  }
}
