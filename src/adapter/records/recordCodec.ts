import type { CreateEntityItem, EntityItem } from 'electrodb';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { createError } from '../../errors/createError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';
import type { IdempotencyRecord } from '../../types.js';
import { toEpochSeconds } from '../shared/time.js';

export type StoredRecord = CreateEntityItem<RecordEntity>;

/** The attributes a record is decoded from: what the entity reads back, or what was written. */
export type RecordItem = Pick<
  EntityItem<RecordEntity>,
  'cacheKey' | 'response' | 'statusCode' | 'headers' | 'createdAt' | 'ttlMs' | 'validUntil'
>;

export function serializationError(
  key: string,
  message: string,
  cause?: unknown,
  operation: 'get' | 'set' = 'set',
): Error {
  return createError(IdempotencyErrorCode.SERIALIZATION_ERROR, message, {
    context: { operation, key },
    cause,
  });
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
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
  if (record.statusCode !== undefined) {
    if (!Number.isInteger(record.statusCode)) {
      throw serializationError(
        key,
        `Record field "statusCode" must be an integer (got ${String(record.statusCode)})`,
      );
    }
    item.statusCode = record.statusCode;
  }
  if (record.headers !== undefined) {
    if (!isStringMap(record.headers)) {
      throw serializationError(key, 'Record field "headers" must be an object of string values');
    }
    item.headers = JSON.stringify(record.headers);
  }
  return item;
}

/** The record as the core stored it, with no storage attributes leaking out. */
export function decodeRecord(item: RecordItem): IdempotencyRecord {
  const fromJson = (field: 'response' | 'headers', text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw serializationError(
        item.cacheKey,
        `Stored record field "${field}" is not valid JSON; the item was not written by this adapter or was altered`,
        cause,
        'get',
      );
    }
  };
  const record: IdempotencyRecord = {
    response: item.response === undefined ? undefined : fromJson('response', item.response),
    createdAt: item.createdAt,
    ttl: item.ttlMs,
  };
  if (item.statusCode !== undefined) record.statusCode = item.statusCode;
  if (item.headers !== undefined) {
    record.headers = fromJson('headers', item.headers) as Record<string, string>;
  }
  return record;
}
