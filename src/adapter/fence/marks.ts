import type { EntityItem } from 'electrodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import type { StoredRecord } from '../records/recordCodec.js';
import { toEpochSeconds } from '../shared/time.js';

/**
 * What a committed fence left on its key: the handler's effects committed at `committedAt`, so
 * no claim takes the key before `markedUntil`. `withRecord`: the mark also carries the response
 * the fence was given, and answers as the key's record.
 */
export interface Mark {
  readonly committedAt: number;
  readonly markedUntil: number;
  readonly withRecord: boolean;
}

type LockItem = EntityItem<LockEntity>;

/** The mark a lock item carries, if any. */
export function markOf(lock: LockItem): Mark | undefined {
  const { committedAt, markedUntil } = lock;
  if (committedAt === undefined || markedUntil === undefined) return undefined;
  return { committedAt, markedUntil, withRecord: lock.ttlMs !== undefined };
}

/** Records read from a mark, not stored by `set`: never cached as the key's final record. */
const markRecords = new WeakSet<object>();

export function isMarkRecord(item: object): boolean {
  return markRecords.has(item);
}

/**
 * A marked lock item that carries a response, read as the record it stands for: created when
 * the effects committed, living until the mark ends. Anything else reads as null.
 */
export function markAsRecord(lock: LockItem | null): EntityItem<RecordEntity> | null {
  if (lock === null || lock.ttlMs === undefined || lock.committedAt === undefined) return null;
  const record: Record<string, unknown> = {
    cacheKey: lock.cacheKey,
    createdAt: lock.committedAt,
    ttlMs: lock.ttlMs,
    validUntil: lock.committedAt + lock.ttlMs,
    expiresAt: lock.expiresAt,
    markedUntil: lock.markedUntil,
    storedBy: lock.owner,
  };
  if (lock.response !== undefined) record.response = lock.response;
  if (lock.statusCode !== undefined) record.statusCode = lock.statusCode;
  if (lock.headers !== undefined) record.headers = lock.headers;
  markRecords.add(record);
  return record as EntityItem<RecordEntity>;
}

/**
 * The record item a holder stores: stamped with its owner token, so that a retry of a put that
 * committed meets its own record; and, once its effects committed, carrying the mark's end, so
 * that even a record that expires sooner (a stored error) never reopens the key before it.
 */
export function stampRecord(item: StoredRecord, token: string, mark: Mark | undefined): void {
  item.storedBy = token;
  if (mark === undefined) return;
  item.markedUntil = mark.markedUntil;
  item.expiresAt = Math.max(item.expiresAt, toEpochSeconds(mark.markedUntil));
}
