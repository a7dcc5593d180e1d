import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { EntityItem } from 'electrodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { createError } from '../../errors/createError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';
import { publish } from '../../events/channels.js';
import { markAsRecord } from '../fence/marks.js';
import {
  createItemRead,
  parseAs,
  sendConditionalDelete,
  toPutInput,
} from '../requests/entityRequests.js';
import { type RequestValues, requestTemplate } from '../requests/requestTemplate.js';
import { isLive } from '../shared/time.js';
import { itemBytes, MAX_ITEM_BYTES } from './itemSize.js';
import type { StoredRecord } from './recordCodec.js';
import { compressResponse, inflateResponse } from './responseCompression.js';

/**
 * Whom a record put must still find holding the key. `none`: anyone (a caller holding no lock
 * overwrites). `owner`: the lock (or record) carrying the item's owner token. `owner-unmarked`:
 * the same, and no mark of a fence this instance has not seen commit: such a mark must be
 * carried over into the record, not dropped by it.
 */
export type PutFence = 'none' | 'owner' | 'owner-unmarked';

/** How a record is read, written and removed. */
export class RecordStore {
  private readonly read: (cacheKey: string) => Promise<Record<string, unknown> | undefined>;
  /** Record puts by the attributes present (a status code, headers, a response or none). */
  private readonly putTemplates = new Map<string, (values: RequestValues) => object>();

  constructor(
    private readonly records: RecordEntity,
    private readonly locks: LockEntity,
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.read = createItemRead(records, client, table);
  }

  /**
   * The key's record item, read consistently: a record, or a fence's mark that carries one;
   * null for anything else.
   */
  private async readRecord(key: string): Promise<EntityItem<RecordEntity> | null> {
    const item = await this.read(key);
    if (item === undefined) return null;
    return parseAs(this.records, item) ?? markAsRecord(parseAs(this.locks, item));
  }

  /**
   * The live record item under `key`, its response as plain text however it was stored; a
   * lock item or an expired record reads as null.
   */
  async getLive(key: string, now: () => number): Promise<EntityItem<RecordEntity> | null> {
    return this.live(await this.readRecord(key), now());
  }

  /** A record item read elsewhere, as `getLive` would return it. */
  live(
    item: EntityItem<RecordEntity> | null,
    now: number,
  ): EntityItem<RecordEntity> | null | Promise<EntityItem<RecordEntity>> {
    if (item === null || !isLive(item.validUntil, now)) return null;
    // Most records are plain: skip the extra await on the replay path.
    return item.responseGzip === undefined ? item : inflateResponse(item);
  }

  /**
   * Replaces whatever holds the key (a lock, or an older record) with the record. An item
   * over DynamoDB's size limit is sent with its response compressed; one still over the limit
   * fails with SERIALIZATION_ERROR and nothing is sent, so what the key held stays.
   */
  async put(item: StoredRecord, fence: PutFence = 'none'): Promise<void> {
    let input = toPutInput(this.putParams(item, fence));
    const bytes = itemBytes(input.Item);
    if (bytes > MAX_ITEM_BYTES) {
      // Without a response (the headers are what is large) there is nothing to compress.
      const compressed = item.response === undefined ? undefined : await compressResponse(item);
      if (compressed !== undefined) input = toPutInput(this.buildPut(compressed, fence).params());
      const compressedBytes = itemBytes(input.Item);
      if (compressedBytes > MAX_ITEM_BYTES) {
        const sizes =
          compressed === undefined
            ? `${bytes} bytes`
            : `${bytes} bytes, ${compressedBytes} bytes with its response compressed`;
        throw createError(
          IdempotencyErrorCode.SERIALIZATION_ERROR,
          `Record is too large to store: ${sizes}, over DynamoDB's item limit of ${MAX_ITEM_BYTES} bytes (400 KB)`,
          {
            context: {
              operation: 'set',
              key: item.cacheKey,
              bytes,
              compressedBytes,
              limit: MAX_ITEM_BYTES,
            },
          },
        );
      }
      publish('responseCompressed', () => ({
        table: this.table,
        key: item.cacheKey,
        bytes,
        compressedBytes,
      }));
    }
    // What held the key when a fence's condition failed comes back with the rejection.
    if (fence !== 'none') input.ReturnValuesOnConditionCheckFailure = 'ALL_OLD';
    await this.client.send(new PutItemCommand(input));
  }

  /** ElectroDB's put of the item, conditioned as `fence` says. */
  private buildPut(item: StoredRecord, fence: PutFence) {
    const put = this.records.put(item);
    if (fence === 'none') return put;
    // The lock item carries the token as `owner`; our own record (a retry of a put that
    // committed) as `storedBy`.
    return put.where(({ lockOwner, storedBy, markedUntil }, { eq, notExists }) => {
      const token = item.storedBy;
      const held =
        fence === 'owner'
          ? eq(lockOwner, token)
          : `(${eq(lockOwner, token)} AND ${notExists(markedUntil)})`;
      return `${held} OR ${eq(storedBy, token)}`;
    });
  }

  /** ElectroDB's put of the item, from a template per set of attributes where one applies. */
  private putParams(item: StoredRecord, fence: PutFence): object {
    const names = Object.keys(item).sort();
    const values = item as Record<string, unknown>;
    if (!names.every((name) => ['string', 'number'].includes(typeof values[name]))) {
      // A compressed response is binary: rare enough to leave to ElectroDB.
      return this.buildPut(item, fence).params();
    }
    const shape = `${fence}:${names.map((name) => `${name}:${typeof values[name]}`).join(',')}`;
    let template = this.putTemplates.get(shape);
    if (template === undefined) {
      template = requestTemplate(
        (probe) => this.buildPut(probe as unknown as StoredRecord, fence).params(),
        probesLike(names, values),
      );
      this.putTemplates.set(shape, template);
    }
    return template(item as unknown as RequestValues);
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

/**
 * Sets of values of the kinds `values` holds, under its names, to check a template by: distinct
 * per name, and with edge spaces, a combining accent, fractions, zero and a negative, which
 * would show any trimming, normalising or rounding.
 */
function probesLike(
  names: readonly string[],
  values: Record<string, unknown>,
): [RequestValues, ...RequestValues[]] {
  const probe = (number: (index: number) => number, text: (name: string) => string) =>
    Object.fromEntries(
      names.map((name, index) => [
        name,
        typeof values[name] === 'number' ? number(index) : text(name),
      ]),
    );
  return [
    probe(
      (index) => 1_700_000_000_000 + index,
      (name) => `Probe/Ä 1#${name}`,
    ),
    probe(
      (index) => index,
      (name) => `p0-${name}`,
    ),
    probe(
      (index) => (index === 0 ? -1 : index + 0.5),
      (name) => ` ${name}A\u0301 `,
    ),
  ];
}
