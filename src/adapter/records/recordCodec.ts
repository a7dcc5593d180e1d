import type { CreateEntityItem, EntityItem } from 'electrodb';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { createError } from '../../errors/createError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';
import type { IdempotencyRecord } from '../../types.js';
import { toEpochSeconds } from '../shared/time.js';
import { exactJson, InexactValueError } from './exactJson.js';
import { MAX_RESPONSE_BYTES } from './responseLimit.js';

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
  details: Record<string, unknown> = {},
): Error {
  return createError(IdempotencyErrorCode.SERIALIZATION_ERROR, message, {
    context: { operation, key, ...details },
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

/**
 * The response as JSON that reads back as the same value (see exactJson for the few documented
 * conversions), within MAX_RESPONSE_BYTES; undefined for an undefined response.
 */
function responseJson(key: string, response: unknown): string | undefined {
  let json: string | undefined;
  try {
    json = exactJson(response);
  } catch (cause) {
    if (cause instanceof InexactValueError) {
      throw serializationError(
        key,
        `Record field "response" cannot be stored exactly: ${cause.message}`,
        undefined,
        'set',
        { path: cause.path },
      );
    }
    // A throwing toJSON or getter, or nesting too deep for the stack.
    throw serializationError(key, 'Record field "response" cannot be represented as JSON', cause);
  }
  // A UTF-16 unit takes at most 3 UTF-8 bytes, so most responses need no count.
  if (json === undefined || json.length * 3 <= MAX_RESPONSE_BYTES) return json;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_RESPONSE_BYTES) {
    throw serializationError(
      key,
      `Record field "response" of key ${JSON.stringify(key)} is ${bytes} bytes of JSON, over the limit of ${MAX_RESPONSE_BYTES} bytes (MAX_RESPONSE_BYTES, 10 MiB)`,
      undefined,
      'set',
      { bytes, limit: MAX_RESPONSE_BYTES },
    );
  }
  return json;
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
  // An undefined response has no JSON: the attribute is then simply absent.
  const response = responseJson(key, record.response);
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
