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
      },
      indexes: { primary: primaryIndex(options) },
    },
    { client: options.client, table: options.table },
  );
}

export type LockEntity = ReturnType<typeof createLockEntity>;
