import {
  type AttributeValue,
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { createConversions, type EntityItem } from 'electrodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { markAsRecord } from '../fence/marks.js';

/**
 * The entities model every request: keys, identifiers, attribute names and conditions all come
 * from ElectroDB (`params()`, key conversions, `parse`). The adapter marshals them and sends the
 * low-level command itself, because each layer between costs latency on the hot path. Profiled
 * against a stub client: ElectroDB's `go()` chain about 40 to 80 µs of CPU per call, and the
 * document client's per-request middleware about 30 µs, against an SDK round trip of about 250 µs.
 */

type CacheKeyEntity = RecordEntity | LockEntity;

/** The plain-JSON request parts ElectroDB's `params()` produces for a put or a delete. */
interface PlainParams {
  TableName?: string;
  Key?: Record<string, unknown>;
  Item?: Record<string, unknown>;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

const MARSHALL_OPTIONS = { removeUndefinedValues: true } as const;

function marshallValues(
  values: Record<string, unknown> | undefined,
): Record<string, AttributeValue> | undefined {
  return values === undefined ? undefined : marshall(values, MARSHALL_OPTIONS);
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * How many times the SDK sent the request; `ifUnknown` when the error carries no count (by
 * default: as retried, the safe side for deciding whether an answer may have been lost).
 */
export function attemptsOf(error: unknown, ifUnknown = Number.POSITIVE_INFINITY): number {
  return (
    (error as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? ifUnknown
  );
}

/** A strongly consistent read of the item under a cache key, unmarshalled, whoever wrote it. */
export function createItemRead(
  entity: CacheKeyEntity,
  client: DynamoDBClient,
  table: string,
): (cacheKey: string) => Promise<Record<string, unknown> | undefined> {
  const toKeys = createConversions(entity as RecordEntity).fromComposite.toKeys;
  return async (cacheKey) => {
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: table,
        Key: marshall(toKeys({ cacheKey }) as Record<string, string>),
        ConsistentRead: true,
      }),
    );
    return Item === undefined ? undefined : unmarshall(Item);
  };
}

/** The item as `entity`'s attributes, or null when another entity wrote it. */
export function parseAs<E extends CacheKeyEntity>(
  entity: E,
  item: Record<string, unknown>,
): EntityItem<E> | null {
  // parse checks ownership (__edb_e__/__edb_v__) and maps stored fields to attributes.
  return (entity as RecordEntity).parse({ Item: item }, { ignoreOwnership: false })
    .data as EntityItem<E> | null;
}

/** The low-level form of a put ElectroDB built, with its item marshalled. */
export function toPutInput(params: object): PutItemCommandInput & {
  Item: Record<string, AttributeValue>;
} {
  const { Item = {}, ExpressionAttributeValues, ...rest } = params as PlainParams;
  return {
    ...rest,
    TableName: rest.TableName,
    Item: marshall(Item, MARSHALL_OPTIONS),
    ExpressionAttributeValues: marshallValues(ExpressionAttributeValues),
  };
}

/** What one consistent read of a cache key found: its lock, its record, or neither. */
export interface KeyItem {
  readonly lock: EntityItem<LockEntity> | null;
  readonly record: EntityItem<RecordEntity> | null;
}

/**
 * A strongly consistent read of the key's one item, parsed as whichever entity wrote it: a
 * waiter polling the lock sees the record that replaced it in the same request. A fence's mark
 * that carries a response reads as the record it stands for.
 */
export function createKeyRead(
  records: RecordEntity,
  locks: LockEntity,
  client: DynamoDBClient,
  table: string,
): (cacheKey: string) => Promise<KeyItem> {
  const read = createItemRead(records, client, table);
  return async (cacheKey) => {
    const item = await read(cacheKey);
    if (item === undefined) return { lock: null, record: null };
    const lock = parseAs(locks, item);
    if (lock === null) return { lock: null, record: parseAs(records, item) };
    const marked = markAsRecord(lock);
    return marked === null ? { lock, record: null } : { lock: null, record: marked };
  };
}

/**
 * Sends a put ElectroDB built; a failed condition throws ConditionalCheckFailedException.
 * Resolves to the item it replaced when asked for with `ReturnValues: 'ALL_OLD'`.
 */
export async function sendPut(
  client: DynamoDBClient,
  params: object,
  extra: Pick<PutItemCommandInput, 'ReturnValues' | 'ReturnValuesOnConditionCheckFailure'> = {},
): Promise<Record<string, unknown> | undefined> {
  const { Attributes } = await client.send(new PutItemCommand({ ...toPutInput(params), ...extra }));
  return Attributes === undefined ? undefined : unmarshall(Attributes);
}

/**
 * The item a failed condition was checked against, unmarshalled: DynamoDB and DynamoDB Local
 * return it with `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`, dynalite does not. Undefined
 * also when there was no item.
 */
export function itemOfFailedCondition(error: unknown): Record<string, unknown> | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> }).Item;
  return item === undefined ? undefined : unmarshall(item);
}

/**
 * Sends a conditional delete ElectroDB built. When the condition did not hold, says after how
 * many attempts: a rejection after an SDK retry may be against the delete's own earlier,
 * committed attempt.
 */
export async function sendConditionalDelete(
  client: DynamoDBClient,
  params: object,
  extra: Pick<DeleteItemCommandInput, 'ReturnValuesOnConditionCheckFailure'> = {},
): Promise<
  | { deleted: true }
  | { deleted: false; attempts: number; holder: Record<string, unknown> | undefined }
> {
  const { Key = {}, ExpressionAttributeValues, ...rest } = params as PlainParams;
  try {
    await client.send(
      new DeleteItemCommand({
        ...rest,
        TableName: rest.TableName,
        Key: marshall(Key),
        ExpressionAttributeValues: marshallValues(ExpressionAttributeValues),
        ...extra,
      }),
    );
    return { deleted: true };
  } catch (error) {
    if (isConditionalCheckFailed(error)) {
      return { deleted: false, attempts: attemptsOf(error), holder: itemOfFailedCondition(error) };
    }
    throw error;
  }
}
