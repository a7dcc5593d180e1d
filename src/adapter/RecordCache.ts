import type { IdempotencyRecord } from '../types.js';
import { decodeRecord, type RecordItem } from './recordCodec.js';
import { isLive } from './time.js';

/**
 * An opt-in, bounded, least-recently-used cache of completed records, so warm replays on this
 * instance cost no request. Only records (never locks) enter it, and an entry is dropped once
 * the record expires. Entries hold the stored form and are decoded on each hit, so callers
 * never share, or can corrupt, a cached object.
 */
export class RecordCache {
  private readonly entries = new Map<string, RecordItem>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): IdempotencyRecord | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (!isLive(entry.validUntil, now)) return undefined;
    // Re-inserting moves the entry to the young end of the map's insertion order.
    this.entries.set(key, entry);
    return decodeRecord(entry);
  }

  put(key: string, item: RecordItem): void {
    this.entries.delete(key);
    this.entries.set(key, item);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
