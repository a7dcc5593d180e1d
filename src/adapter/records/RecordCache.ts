import type { IdempotencyRecord } from '../../types.js';
import { isLive } from '../shared/time.js';
import { decodeRecord, type RecordItem } from './recordCodec.js';

/**
 * An opt-in, bounded, least-recently-used cache of completed records, so warm replays on this
 * instance cost no request. Only records (never locks, never "not found") enter it; an expired
 * entry is never served, and is dropped when next looked up or when it is the least recently
 * used. Entries hold the stored form and are decoded on each hit, so callers never share, or
 * can corrupt, a cached object.
 *
 * Every write through this instance moves a stamp forward; a read or write fills the cache only
 * if no write began while it was in flight, so a slow read cannot put back a record that this
 * instance has since deleted or overwritten.
 */
export class RecordCache {
  private readonly entries = new Map<string, RecordItem>();
  private stamp = 0;

  constructor(private readonly maxEntries: number) {}

  get(key: string, now: number): IdempotencyRecord | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (!isLive(entry.validUntil, now)) return undefined;
    // Re-inserting moves the entry to the young end of the map's insertion order.
    this.entries.set(key, entry);
    return decodeRecord(entry);
  }

  /** The stamp to hand back to `fill` once the read that starts now has returned. */
  readStamp(): number {
    return this.stamp;
  }

  /** A write to `key` begins: forget it, and keep reads already in flight from caching. */
  beginWrite(key: string): number {
    this.entries.delete(key);
    this.stamp += 1;
    return this.stamp;
  }

  /** Caches `item` unless a write began after `stamp` was taken. */
  fill(key: string, item: RecordItem, stamp: number): void {
    if (stamp !== this.stamp) return;
    this.entries.delete(key);
    this.entries.set(key, item);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
