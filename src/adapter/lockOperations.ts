import type { LockEntity } from '../entities/createLockEntity.js';
import { isLive, toEpochSeconds } from './time.js';

/**
 * How a lock is taken, released and inspected. All three are single requests on the one item
 * per cache key, which holds either a lock or a record.
 */

/**
 * Writes a lock owned by `token` unless a live item holds the key. The condition treats a
 * lapsed lock and an expired record alike as absent, so success also proves that no live
 * record exists: no separate read of the record is needed after a claim.
 */
export async function claimLock(
  locks: LockEntity,
  key: string,
  token: string,
  validUntil: number,
  now: number,
): Promise<boolean> {
  const result = await locks
    .put({ cacheKey: key, owner: token, validUntil, expiresAt: toEpochSeconds(validUntil) })
    .where(
      ({ validUntil: itemValidUntil }, { notExists, lt }) =>
        `${notExists(itemValidUntil)} OR ${lt(itemValidUntil, now)}`,
    )
    .go({ response: 'none', returnOnConditionCheckFailure: true, originalErr: true });
  return !result.rejected;
}

/**
 * Deletes the lock only while it still carries `token`: a holder whose lock lapsed and was
 * taken over leaves the new owner's lock alone, and a record that replaced the lock stays.
 */
export async function releaseOwnedLock(
  locks: LockEntity,
  key: string,
  token: string,
): Promise<void> {
  await locks
    .delete({ cacheKey: key })
    .where(({ owner }, { eq }) => eq(owner, token))
    .go({ response: 'none', returnOnConditionCheckFailure: true, originalErr: true });
}

/** True while a lock that has not lapsed holds the key (strongly consistent). */
export async function isLockHeld(
  locks: LockEntity,
  key: string,
  now: () => number,
): Promise<boolean> {
  // A record item belongs to the other entity, so ElectroDB's ownership check yields null here.
  const { data } = await locks.get({ cacheKey: key }).go({ consistent: true, originalErr: true });
  return data !== null && isLive(data.validUntil, now());
}
