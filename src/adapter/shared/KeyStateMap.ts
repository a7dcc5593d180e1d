import type { LostClaims, PendingClaim } from '../claims/ClaimStates.js';
import type { HeldLock } from '../locks/HeldLocks.js';
import type { WaitReceipt } from '../waits/WaitReceipts.js';

/** One cache key's state: a slot per feature, each read and written only by that feature's class. */
export interface KeySlots {
  /** The lock this instance holds (`locks/HeldLocks`). */
  lock: HeldLock | undefined;
  /** Lock waits whose `get` is still to come (`waits/WaitReceipts`). */
  wait: WaitReceipt | undefined;
  /** A claim a `get` won that no `acquireLock` confirmed yet (`claims/ClaimStates`). */
  claim: PendingClaim | undefined;
  /** Claims a `get` lost to a live lock (`claims/ClaimStates`). */
  lost: LostClaims | undefined;
}

/** Drops what a caller abandoned from one key's slots, by one feature's rule. */
export type SlotSweeper = (slots: KeySlots, now: number) => void;

/**
 * Everything this adapter instance remembers per cache key, in one map. An entry leaves as soon
 * as every slot is empty; entries a caller abandoned (a lock never released, a wait whose `get`
 * never came) are swept once lapsed, by each feature's own rule, whenever the map has doubled,
 * so the cost stays amortised O(1).
 */
export class KeyStateMap {
  private readonly byKey = new Map<string, KeySlots>();
  private readonly sweepers: SlotSweeper[] = [];
  private sweepAtSize = 64;

  /** Adds a feature's sweep rule. */
  sweepWith(sweeper: SlotSweeper): void {
    this.sweepers.push(sweeper);
  }

  get(key: string): KeySlots | undefined {
    return this.byKey.get(key);
  }

  /** The key's entry, made if there is none; the map only grows here, so it is swept here. */
  entry(key: string, now: number): KeySlots {
    let slots = this.byKey.get(key);
    if (slots === undefined) {
      // Before the new entry exists: an empty entry would be swept away.
      if (this.byKey.size >= this.sweepAtSize) this.sweep(now);
      slots = { lock: undefined, wait: undefined, claim: undefined, lost: undefined };
      this.byKey.set(key, slots);
    }
    return slots;
  }

  /** Call after emptying a slot: the entry goes once nothing is left in it. */
  settle(key: string, slots: KeySlots): void {
    if (
      slots.lock === undefined &&
      slots.wait === undefined &&
      slots.claim === undefined &&
      slots.lost === undefined
    ) {
      this.byKey.delete(key);
    }
  }

  values(): IterableIterator<KeySlots> {
    return this.byKey.values();
  }

  /** Keys with any state: what a leak would grow. */
  get size(): number {
    return this.byKey.size;
  }

  private sweep(now: number): void {
    for (const [key, slots] of this.byKey) {
      for (const sweeper of this.sweepers) sweeper(slots, now);
      this.settle(key, slots);
    }
    this.sweepAtSize = Math.max(64, this.byKey.size * 2);
  }
}
