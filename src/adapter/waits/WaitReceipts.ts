import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import type { KeyStateMap } from '../shared/KeyStateMap.js';

/** How long after the poll that saw it a record may answer the `get` that follows. */
const RECEIPT_MS = 1_000;
/**
 * How long a finished wait is remembered for the `get` that follows it, which the core makes at
 * once; only a caller that waits and never reads leaves one this old, for the sweep to drop.
 */
const WAIT_MARK_MS = 60_000;

/**
 * Lock waits on the key that have returned and whose `get` has not come yet, with the record
 * (if any) the last of them found in place of the lock.
 */
export interface WaitReceipt {
  item: EntityItem<RecordEntity> | null;
  seenAt: number;
  waits: number;
}

/** What the `get` after a lock wait may use: the record the wait found, while fresh. */
export interface FinishedWait {
  readonly item: EntityItem<RecordEntity> | undefined;
}

/**
 * A wait's lifetime after it returns: the core's `get` follows at once and may be answered by
 * the wait's last read (no second request), and in claim-on-miss mode must not claim, since no
 * `acquireLock` follows it.
 */
export class WaitReceipts {
  constructor(private readonly keys: KeyStateMap) {
    keys.sweepWith((slots, now) => {
      if (slots.wait !== undefined && now - slots.wait.seenAt > WAIT_MARK_MS) {
        slots.wait = undefined;
      }
    });
  }

  /** A lock wait returned; `item` is the record it found in place of the lock, if any. */
  keepReceipt(key: string, item: EntityItem<RecordEntity> | null, now: number): void {
    const slots = this.keys.entry(key, now);
    const waits = (slots.wait?.waits ?? 0) + 1;
    slots.wait = { item, seenAt: now, waits };
  }

  /**
   * Whether a lock wait on the key returned and its `get` is still to come (then this is that
   * `get`), with the record the wait found while it is fresh. Undefined when no wait is pending.
   */
  takeReceipt(key: string, now: number): FinishedWait | undefined {
    const slots = this.keys.get(key);
    const receipt = slots?.wait;
    if (slots === undefined || receipt === undefined) return undefined;
    receipt.waits -= 1;
    if (receipt.waits <= 0) {
      slots.wait = undefined;
      this.keys.settle(key, slots);
    }
    const fresh = receipt.item !== null && now - receipt.seenAt <= RECEIPT_MS;
    return { item: fresh ? (receipt.item ?? undefined) : undefined };
  }

  /** The key's record changed here: a record a wait saw is stale (the waits still count). */
  forgetReceipt(key: string): void {
    const receipt = this.keys.get(key)?.wait;
    if (receipt !== undefined) receipt.item = null;
  }
}
