import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { createConversions, type EntityItem } from 'electrodb';
import type { LockEntity } from '../entities/createLockEntity.js';
import type { RecordEntity } from '../entities/createRecordEntity.js';

type CacheKeyEntity = RecordEntity | LockEntity;

/**
 * A strongly consistent read of one entity's item by cache key. The entity builds the key
 * (ElectroDB conversions) and formats the item with its ownership check (`parse`), so a lock
 * item reads as null through the record entity and vice versa. The request itself goes
 * straight to the document client: ElectroDB's `go()` chain costs more CPU per call than the
 * rest of a replay, and reads are the hot path (every replay and every `waitForLock` poll).
 */
export function createConsistentGet<E extends CacheKeyEntity>(
  entity: E,
  client: DynamoDBDocumentClient,
  table: string,
): (cacheKey: string) => Promise<EntityItem<E> | null> {
  const toKeys = createConversions(entity as RecordEntity).fromComposite.toKeys;
  const parse = (entity as RecordEntity).parse.bind(entity);
  return async (cacheKey) => {
    const { Item } = await client.send(
      new GetCommand({ TableName: table, Key: toKeys({ cacheKey }), ConsistentRead: true }),
    );
    if (Item === undefined) return null;
    return parse({ Item }, { ignoreOwnership: false }).data as EntityItem<E> | null;
  };
}
