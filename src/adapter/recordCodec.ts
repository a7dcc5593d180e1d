import type { CreateEntityItem, EntityItem } from 'electrodb';
import type { RecordEntity } from '../entities/createRecordEntity.js';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import type { IdempotencyRecord } from '../types.js';
import { toEpochSeconds } from './time.js';

type StoredRecord = CreateEntityItem<RecordEntity>;

function serializationError(key: string, message: string, cause?: unknown): Error {
  return createError(IdempotencyErrorCode.SERIALIZATION_ERROR, message, {
    context: { operation: 'set', key },
    cause,
  });
}

function requireNonNegative(key: string, field: 'createdAt' | 'ttl', value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw serializationError(
      key,
      `Record field "${field}" must be a finite number >= 0 (got ${String(value)})`,
    );
  }
  return value;
}

function toJson(key: string, field: string, value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (cause) {
    throw serializationError(key, `Record field "${field}" cannot be represented as JSON`, cause);
  }
}

/** The item that stores `record` under `key`; throws SERIALIZATION_ERROR before any write. */
export function encodeRecord(key: string, record: IdempotencyRecord): StoredRecord {
  if (typeof record !== 'object' || record === null) {
    throw serializationError(key, 'Record must be an object');
  }
  const createdAt = requireNonNegative(key, 'createdAt', record.createdAt);
  const ttl = requireNonNegative(key, 'ttl', record.ttl);
  const validUntil = createdAt + ttl;
  const item: StoredRecord = {
    cacheKey: key,
    createdAt,
    ttlMs: ttl,
    validUntil,
    expiresAt: toEpochSeconds(validUntil),
  };
  // JSON.stringify(undefined) is undefined: the attribute is then simply absent.
  const response = toJson(key, 'response', record.response);
  if (response !== undefined) item.response = response;
  if (record.statusCode !== undefined) item.statusCode = record.statusCode;
  if (record.headers !== undefined) {
    const headers = toJson(key, 'headers', record.headers);
    if (headers !== undefined) item.headers = headers;
  }
  return item;
}

/** The record as the core stored it, with no storage attributes leaking out. */
export function decodeRecord(item: EntityItem<RecordEntity>): IdempotencyRecord {
  const record: IdempotencyRecord = {
    response: item.response === undefined ? undefined : JSON.parse(item.response),
    createdAt: item.createdAt,
    ttl: item.ttlMs,
  };
  if (item.statusCode !== undefined) record.statusCode = item.statusCode;
  if (item.headers !== undefined) record.headers = JSON.parse(item.headers);
  return record;
}
