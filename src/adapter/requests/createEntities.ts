import { createLockEntity } from '../../entities/createLockEntity.js';
import { createRecordEntity } from '../../entities/createRecordEntity.js';
import type { EntityOptions } from '../../entities/entityModel.js';
import { invalidConfig } from '../../errors/invalidConfig.js';

/** Both entities, with ElectroDB's schema complaints about the options reported as INVALID_CONFIG. */
export function createEntities(options: EntityOptions) {
  try {
    return { record: createRecordEntity(options), lock: createLockEntity(options) };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    invalidConfig(
      'ElectroDynamoAdapter',
      `ElectroDB rejected the entities built from these options: ${reason}`,
      'entities',
      cause,
    );
  }
}
