import { Entity } from 'electrodb';
import {
  ENTITY_VERSION,
  type EntityOptions,
  primaryIndex,
  sharedAttributes,
} from './entityModel.js';

/** An in-flight claim on a cache key, held by whoever wrote `owner`. */
export function createLockEntity(options: EntityOptions) {
  return new Entity(
    {
      model: {
        entity: options.entityNames.lock,
        version: ENTITY_VERSION,
        service: options.service,
      },
      attributes: {
        ...sharedAttributes(options),
        owner: { type: 'string', required: true },
        // Set by a committed fence: when the handler's effects committed, epoch ms.
        committedAt: { type: 'number' },
        // Which fence item committed last: a resent transaction meets its own and writes nothing.
        commitId: { type: 'string' },
        // The response a fence was given, stored as a record's are: the mark then answers as one.
        response: { type: 'string' },
        statusCode: { type: 'number' },
        headers: { type: 'string' },
        // The lifetime of the record a mark stands for; present only on a mark given a response.
        ttlMs: { type: 'number' },
      },
      indexes: { primary: primaryIndex(options) },
    },
    { client: options.client, table: options.table },
  );
}

export type LockEntity = ReturnType<typeof createLockEntity>;
