import { CustomAttributeType, Entity } from 'electrodb';
import {
  ENTITY_VERSION,
  type EntityOptions,
  primaryIndex,
  sharedAttributes,
} from './entityModel.js';

/**
 * A binary attribute's value. Named here so the declarations say `Uint8Array` without a type
 * argument, which TypeScript before 5.7 would reject.
 */
export interface BinaryAttribute extends Uint8Array {}

/**
 * The completed idempotency record. `response` and `headers` are JSON strings so that any
 * JSON value round-trips exactly (native maps reject `1e21`, dates, `undefined` members); a
 * response too large for one item is stored gzip-compressed in `responseGzip` instead.
 */
export function createRecordEntity(options: EntityOptions) {
  return new Entity(
    {
      model: {
        entity: options.entityNames.record,
        version: ENTITY_VERSION,
        service: options.service,
      },
      attributes: {
        ...sharedAttributes(options),
        response: { type: 'string' },
        // Set instead of `response` when the plain item would pass DynamoDB's 400 KB limit.
        responseGzip: { type: CustomAttributeType<BinaryAttribute>('any') },
        statusCode: { type: 'number' },
        headers: { type: 'string' },
        createdAt: { type: 'number', required: true },
        // The record's `ttl`, named apart so a table TTL attribute may itself be called `ttl`.
        ttlMs: { type: 'number', required: true },
        // Owner token of the lock this record completed: a retried fenced put meets its own.
        // Named apart from the lock's `owner`, so that a late renewal or release of that lock
        // (conditioned on `owner`) never takes the record for the lock.
        storedBy: { type: 'string' },
        // The lock item's owner token, named so that a fenced put can be conditioned on the
        // lock it replaces. A record never carries it.
        lockOwner: { type: 'string', field: 'owner' },
      },
      indexes: { primary: primaryIndex(options) },
    },
    { client: options.client, table: options.table },
  );
}

export type RecordEntity = ReturnType<typeof createRecordEntity>;
