export { createLockEntity, type LockEntity } from './createLockEntity.js';
export { createRecordEntity, type RecordEntity } from './createRecordEntity.js';
export { ENTITY_VERSION, type EntityOptions } from './entityModel.js';
