import { createLockEntity } from '../entities/createLockEntity.js';
import { createRecordEntity } from '../entities/createRecordEntity.js';
import type { EntityOptions } from '../entities/entityModel.js';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';

/** Both entities, with ElectroDB's schema complaints about the options reported as INVALID_CONFIG. */
export function createEntities(options: EntityOptions) {
  try {
    return { record: createRecordEntity(options), lock: createLockEntity(options) };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw createError(
      IdempotencyErrorCode.INVALID_CONFIG,
      `ElectroDynamoAdapter: ElectroDB rejected the entities built from these options: ${reason}`,
      { cause, context: { option: 'entities' } },
    );
  }
}
