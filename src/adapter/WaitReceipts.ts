import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../entities/createRecordEntity.js';

/** How long after the poll that saw it a record may answer the `get` that follows. */
const RECEIPT_MS = 1_000;
/** Receipts nobody collects (a caller that waits but never reads) stop piling up here. */
const MAX_RECEIPTS = 1_024;

interface Receipt {
  readonly item: EntityItem<RecordEntity>;
  readonly seenAt: number;
}

/**
 * The record a `waitForLock` poll found in place of the lock. The core reads the record right
 * after the wait returns; the poll already read it, strongly consistent, a moment earlier, so
 * that one `get` is answered without a second request. Writes through this instance forget it.
 */
export class WaitReceipts {
  private readonly byKey = new Map<string, Receipt>();

  keep(key: string, item: EntityItem<RecordEntity>, now: number): void {
    this.byKey.delete(key);
    this.byKey.set(key, { item, seenAt: now });
    if (this.byKey.size > MAX_RECEIPTS) {
      const oldest = this.byKey.keys().next();
      if (!oldest.done) this.byKey.delete(oldest.value);
    }
  }

  /** The record seen by the wait that just returned, once, while the receipt is fresh. */
  take(key: string, now: number): EntityItem<RecordEntity> | undefined {
    const receipt = this.byKey.get(key);
    if (receipt === undefined) return undefined;
    this.byKey.delete(key);
    return now - receipt.seenAt <= RECEIPT_MS ? receipt.item : undefined;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }
}
