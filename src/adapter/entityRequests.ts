import {
  DeleteCommand,
  type DeleteCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { createConversions, type EntityItem } from 'electrodb';
import type { LockEntity } from '../entities/createLockEntity.js';
import type { RecordEntity } from '../entities/createRecordEntity.js';

/**
 * The entities model every request: keys, identifiers, attribute names and conditions all come
 * from ElectroDB (`params()`, key conversions, `parse`). The document client sends them
 * directly, because ElectroDB's `go()` chain costs more CPU per call than the rest of a replay
 * (about 80 µs against a 250 µs SDK round trip, measured in bench/).
 */

type CacheKeyEntity = RecordEntity | LockEntity;

export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/** How many times the SDK sent the request; unknown counts as retried, the safe side. */
export function attemptsOf(error: unknown): number {
  return (
    (error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? Number.POSITIVE_INFINITY
  );
}

/** A strongly consistent read of the entity's item; another entity's item reads as null. */
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
    // parse checks ownership (__edb_e__/__edb_v__) and maps stored fields to attributes.
    return parse({ Item }, { ignoreOwnership: false }).data as EntityItem<E> | null;
  };
}

/** Sends a put ElectroDB built; a failed condition throws ConditionalCheckFailedException. */
export async function sendPut(client: DynamoDBDocumentClient, params: object): Promise<void> {
  await client.send(new PutCommand(params as PutCommandInput));
}

/** Sends a conditional delete ElectroDB built; false when the condition did not hold. */
export async function sendConditionalDelete(
  client: DynamoDBDocumentClient,
  params: object,
): Promise<boolean> {
  try {
    await client.send(new DeleteCommand(params as DeleteCommandInput));
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}
