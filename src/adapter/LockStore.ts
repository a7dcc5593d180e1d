import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EntityItem } from 'electrodb';
import type { LockEntity } from '../entities/createLockEntity.js';
import {
  attemptsOf,
  createConsistentGet,
  isConditionalCheckFailed,
  itemOfFailedCondition,
  sendConditionalDelete,
  sendPut,
} from './entityRequests.js';
import { toEpochSeconds } from './time.js';

/**
 * How a lock is taken, released and inspected: single requests on the one item per cache
 * key, which holds either a lock or a record.
 */
export class LockStore {
  private readonly read: (cacheKey: string) => Promise<EntityItem<LockEntity> | null>;

  constructor(
    private readonly locks: LockEntity,
    private readonly client: DynamoDBClient,
    table: string,
  ) {
    this.read = createConsistentGet(locks, client, table);
  }

  /**
   * Writes a lock owned by `token` unless a live item holds the key. The condition treats a
   * lapsed lock and an expired record alike as absent, so success also proves that no live
   * record exists: no separate read of the record is needed after a claim.
   */
  async claim(key: string, token: string, validUntil: number, now: number): Promise<boolean> {
    const params = this.locks
      .put({ cacheKey: key, owner: token, validUntil, expiresAt: toEpochSeconds(validUntil) })
      .where(
        ({ validUntil: itemValidUntil }, { notExists, lt }) =>
          `${notExists(itemValidUntil)} OR ${lt(itemValidUntil, now)}`,
      )
      .params();
    try {
      // The item that beat the claim comes back with the rejection, so a retried claim can
      // tell its own lock from another's without a read (measured on DynamoDB Local: a claim
      // lost to a lock costs the same with or without it).
      await sendPut(this.client, params, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // Rejected on the first attempt: someone else holds the key, no doubt about it. After an
      // SDK retry the rejection may be against our own claim, committed by an attempt whose
      // answer was lost: the owner token on the item tells.
      if (attemptsOf(error) <= 1) return false;
      const seen = itemOfFailedCondition(this.locks, error);
      const holder = seen === undefined ? await this.read(key) : seen;
      return holder?.owner === token;
    }
  }

  /**
   * Deletes the lock only while it still carries `token`: a holder whose lock lapsed and was
   * taken over leaves the new owner's lock alone, and a record that replaced the lock stays.
   */
  async release(key: string, token: string): Promise<void> {
    const params = this.locks
      .delete({ cacheKey: key })
      .where(({ owner }, { eq }) => eq(owner, token))
      .params();
    await sendConditionalDelete(this.client, params);
  }
}
