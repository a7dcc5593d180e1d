import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { createConsistentGet, sendConditionalDelete, sendPut } from './entityRequests.js';
import type { StoredRecord } from './recordCodec.js';
import { isLive } from './time.js';

/** How a record is read, written and removed. */
export class RecordStore {
  private readonly read: (cacheKey: string) => Promise<EntityItem<RecordEntity> | null>;

  constructor(
    private readonly records: RecordEntity,
    private readonly client: DynamoDBClient,
    table: string,
  ) {
    this.read = createConsistentGet(records, client, table);
  }

  /** The live record item under `key`; a lock item or an expired record reads as null. */
  async getLive(key: string, now: () => number): Promise<EntityItem<RecordEntity> | null> {
    const item = await this.read(key);
    return item === null || !isLive(item.validUntil, now()) ? null : item;
  }

  /** Replaces whatever holds the key (a lock, or an older record) with the record. */
  async put(item: StoredRecord): Promise<void> {
    await sendPut(this.client, this.records.put(item).params());
  }

  /** Removes the record; an in-flight lock under the same key is left in place. */
  async remove(key: string): Promise<void> {
    const params = this.records
      .delete({ cacheKey: key })
      .where(({ createdAt }, { exists }) => exists(createdAt))
      .params();
    await sendConditionalDelete(this.client, params);
  }
}
