export { ElectroDynamoAdapter } from './adapter/ElectroDynamoAdapter.js';
export type {
  ElectroTransaction,
  Fence,
  FenceCommit,
  FencedResponse,
  FenceItem,
} from './adapter/fence/Fence.js';
export {
  currentFence,
  fenceScopeExpress,
  fenceScopeKoa,
  runInFenceScope,
  withFenceScope,
} from './adapter/fence/FenceScope.js';
export { type FenceErrorReason, fenceErrorReason } from './adapter/fence/fenceErrors.js';
export type { LeaseHealth } from './adapter/locks/LeaseWatch.js';
export { MAX_RESPONSE_BYTES } from './adapter/records/responseLimit.js';
export { MAX_PARTITION_KEY_BYTES } from './adapter/shared/validateInput.js';
export {
  createLockEntity,
  createRecordEntity,
  ENTITY_VERSION,
  type EntityOptions,
  type LockEntity,
  type RecordEntity,
} from './entities/index.js';
export { usesCoreErrorClass } from './errors/adoptCoreError.js';
export { IdempotencyError, type IdempotencyErrorOptions } from './errors/IdempotencyError.js';
export { IdempotencyErrorCode } from './errors/IdempotencyErrorCode.js';
export {
  type AmbiguousWriteResolvedEvent,
  type HoldCapReachedEvent,
  IDEMPOTENCY_CHANNELS,
  type IdempotencyEventBase,
  type IdempotencyEvents,
  type LeaseAtRiskEvent,
  type LeaseLostEvent,
  type LeaseLostReason,
  type LeaseRenewedEvent,
  type LockTakeoverEvent,
  type ResponseCompressedEvent,
  type StorageErrorEvent,
} from './events/channels.js';
export { DEFAULTS, type ElectroDynamoAdapterOptions } from './options.js';
export { checkTable } from './table/checkTable.js';
export type { CheckTableOptions } from './table/checkTableOptions.js';
export { type CreateIdempotencyTableOptions, createIdempotencyTable } from './table/createTable.js';
export type {
  TableCheck,
  TableCheckName,
  TableCheckReport,
  TableCheckStatus,
} from './table/tableCheck.js';
export type { IdempotencyRecord, StorageAdapter } from './types.js';
