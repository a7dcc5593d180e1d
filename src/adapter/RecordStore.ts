import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import type { IdempotencyRecord } from '../types.js';
import { createConsistentGet } from './consistentGet.js';
import { decodeRecord, type StoredRecord } from './recordCodec.js';
import { isLive } from './time.js';

/** How a record is read, written and removed. */
export class RecordStore {
  private readonly read: (cacheKey: string) => Promise<EntityItem<RecordEntity> | null>;

  constructor(
    private readonly records: RecordEntity,
    client: DynamoDBDocumentClient,
    table: string,
  ) {
    this.read = createConsistentGet(records, client, table);
  }

  /** The live record under `key`; a lock item or an expired record reads as null. */
  async get(key: string, now: () => number): Promise<IdempotencyRecord | null> {
    const item = await this.read(key);
    if (item === null || !isLive(item.validUntil, now())) return null;
    return decodeRecord(item);
  }

  /** Replaces whatever holds the key (a lock, or an older record) with the record. */
  async put(item: StoredRecord): Promise<void> {
    await this.records.put(item).go({ response: 'none', originalErr: true });
  }

  /** Removes the record; an in-flight lock under the same key is left in place. */
  async remove(key: string): Promise<void> {
    await this.records
      .delete({ cacheKey: key })
      .where(({ createdAt }, { exists }) => exists(createdAt))
      .go({ response: 'none', returnOnConditionCheckFailure: true, originalErr: true });
  }
}
