import type { RecordEntity } from '../entities/createRecordEntity.js';
import type { IdempotencyRecord } from '../types.js';
import { decodeRecord, encodeRecord } from './recordCodec.js';
import { isLive } from './time.js';

/** How a record is read, written and removed. */

/** The live record under `key` (strongly consistent); a lock item or an expired record reads as null. */
export async function readRecord(
  records: RecordEntity,
  key: string,
  now: () => number,
): Promise<IdempotencyRecord | null> {
  const { data } = await records.get({ cacheKey: key }).go({ consistent: true, originalErr: true });
  if (data === null || !isLive(data.validUntil, now())) return null;
  return decodeRecord(data);
}

/** Serializes first (so a bad record writes nothing), then replaces whatever holds the key. */
export function prepareRecordWrite(records: RecordEntity, key: string, record: IdempotencyRecord) {
  const item = encodeRecord(key, record);
  return () => records.put(item).go({ response: 'none', originalErr: true });
}

/** Removes the record; an in-flight lock under the same key is left in place. */
export async function removeRecord(records: RecordEntity, key: string): Promise<void> {
  await records
    .delete({ cacheKey: key })
    .where(({ createdAt }, { exists }) => exists(createdAt))
    .go({ response: 'none', returnOnConditionCheckFailure: true, originalErr: true });
}
