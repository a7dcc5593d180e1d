import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import { hasSubscribers, type LeaseLostReason, publish } from '../../events/channels.js';
import { type Mark, markOf } from '../fence/marks.js';
import {
  attemptsOf,
  createItemRead,
  isConditionalCheckFailed,
  itemOfFailedCondition,
  parseAs,
  sendConditionalDelete,
  sendPut,
} from '../requests/entityRequests.js';
import { requestTemplate } from '../requests/requestTemplate.js';
import { toEpochSeconds } from '../shared/time.js';

/** What a lock put is made of: the key, the owner token, the lease end (ms and TTL seconds). */
type LockValues = {
  readonly cacheKey: string;
  readonly owner: string;
  readonly validUntil: number;
  readonly expiresAt: number;
};
type ClaimValues = LockValues & { readonly now: number };
type MarkedLockValues = LockValues & { readonly committedAt: number; readonly markedUntil: number };

// Values of the kinds requests carry, with the characters keys may hold, to check templates by.
// Edge spaces, a combining accent, fractions, zero and a negative would show any trimming,
// normalising or rounding.
const PROBE_LOCKS: readonly [LockValues, LockValues, LockValues] = [
  { cacheKey: 'Probe-Key/Ä 1#x', owner: 'owner-a', validUntil: 1_700_000_000_123, expiresAt: 1 },
  { cacheKey: 'b', owner: 'Owner-B 2', validUntil: 9, expiresAt: 1_700_000_001 },
  { cacheKey: ' A\u0301 x ', owner: ' o ', validUntil: 1.5, expiresAt: 0 },
];
const PROBE_CLAIMS: readonly [ClaimValues, ClaimValues, ClaimValues] = [
  { ...PROBE_LOCKS[0], now: 1_700_000_000_000 },
  { ...PROBE_LOCKS[1], now: 3 },
  { ...PROBE_LOCKS[2], now: -1 },
];

/**
 * How a claim ended. A lost claim carries the item that holds the key where the caller asked
 * for it (`claimOrFindHolder`).
 */
export type ClaimOutcome =
  | { readonly acquired: true }
  | { readonly acquired: false; readonly holder: Record<string, unknown> | undefined };

/** What a renewal found in place of our lock when its condition failed. */
export type RenewalLoss = Exclude<LeaseLostReason, 'lapsed'>;

/** A renewal that met our own lock, marked by a fence this instance did not see commit. */
export interface MarkFound {
  readonly mark: Mark;
}

/**
 * How a lock is taken, renewed and released: single conditional requests on the one item per
 * cache key, which holds either a lock or a record. Every write after the claim is conditioned
 * on the owner token, so a holder whose lease lapsed never touches its successor's lock.
 */
export class LockStore {
  private readonly read: (cacheKey: string) => Promise<Record<string, unknown> | undefined>;
  private readonly claimParams: (values: ClaimValues) => object;
  private readonly renewParams: (values: LockValues) => object;
  private readonly markedRenewParams: (values: MarkedLockValues) => object;
  private readonly releaseParams: (values: Pick<LockValues, 'cacheKey' | 'owner'>) => object;

  constructor(
    private readonly locks: LockEntity,
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.read = createItemRead(locks, client, table);
    this.claimParams = requestTemplate(
      (values) =>
        this.lockPut(values)
          // A key whose effects committed through a fence is never taken over, lapsed or not.
          .where(
            ({ validUntil: itemValidUntil, markedUntil }, { notExists, lt }) =>
              `(${notExists(itemValidUntil)} OR ${lt(itemValidUntil, values.now)}) AND (${notExists(markedUntil)} OR ${lt(markedUntil, values.now)})`,
          )
          .params(),
      PROBE_CLAIMS,
    );
    // A plain renewal must not replace a mark a fence left (its put would drop it): it then
    // fails, and the renewal that follows rewrites the mark with the new lease.
    this.renewParams = requestTemplate(
      (values) =>
        this.lockPut(values)
          .where(
            ({ owner, markedUntil }, { eq, notExists }) =>
              `${eq(owner, values.owner)} AND ${notExists(markedUntil)}`,
          )
          .params(),
      PROBE_LOCKS,
    );
    this.markedRenewParams = requestTemplate(
      (values) =>
        locks
          .put({ ...values })
          .where(({ owner }, { eq }) => eq(owner, values.owner))
          .params(),
      [
        { ...PROBE_LOCKS[0], committedAt: 1_700_000_000_000, markedUntil: 1_700_086_400_000 },
        { ...PROBE_LOCKS[1], committedAt: 2, markedUntil: 7 },
        { ...PROBE_LOCKS[2], committedAt: 0.5, markedUntil: -3 },
      ],
    );
    // Releasing never removes a mark: the key stays closed to claims until the mark ends.
    this.releaseParams = requestTemplate(
      ({ cacheKey, owner: token }) =>
        locks
          .delete({ cacheKey })
          .where(
            ({ owner, markedUntil }, { eq, notExists }) =>
              `${eq(owner, token)} AND ${notExists(markedUntil)}`,
          )
          .params(),
      [
        { cacheKey: PROBE_LOCKS[0].cacheKey, owner: PROBE_LOCKS[0].owner },
        { cacheKey: PROBE_LOCKS[1].cacheKey, owner: PROBE_LOCKS[1].owner },
        { cacheKey: PROBE_LOCKS[2].cacheKey, owner: PROBE_LOCKS[2].owner },
      ],
    );
  }

  /**
   * Writes a lock owned by `token` unless a live item holds the key. The condition treats a
   * lapsed lock and an expired record alike as absent, so success also proves that no live
   * record exists: no separate read of the record is needed after a claim.
   */
  async claim(key: string, token: string, validUntil: number, now: number): Promise<boolean> {
    const outcome = await this.tryClaim(key, token, validUntil, now, 'acquireLock');
    return outcome.acquired;
  }

  /**
   * The claim `get` makes on a miss: as `claim`, and when it loses, the item that holds the key
   * (a live record or lock): returned with the rejection, or read once where it is not
   * (dynalite). Undefined holder: the key emptied between the rejection and the read.
   *
   * A claim that fails after the SDK's retries (throttled writes, a connection lost) may have
   * committed all the same, and a replay needs no write: one consistent read decides, our own
   * token meaning the claim holds. If the read fails too, the claim's error stands.
   */
  async claimOrFindHolder(
    key: string,
    token: string,
    validUntil: number,
    now: number,
  ): Promise<ClaimOutcome> {
    return this.tryClaim(key, token, validUntil, now, 'get');
  }

  private async tryClaim(
    key: string,
    token: string,
    validUntil: number,
    now: number,
    operation: 'acquireLock' | 'get',
  ): Promise<ClaimOutcome> {
    const params = this.claimParams({ ...lockValues(key, token, validUntil), now });
    // The replaced item only matters to someone watching takeovers: ask for it only then.
    const watchTakeovers = hasSubscribers('lockTakeover');
    let replaced: Record<string, unknown> | undefined;
    try {
      // The item that beat the claim comes back with the rejection, so a retried claim can
      // tell its own lock from another's without a read (measured on DynamoDB Local: a claim
      // lost to a lock costs the same with or without it).
      replaced = await sendPut(this.client, params, {
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ...(watchTakeovers && { ReturnValues: 'ALL_OLD' }),
      });
    } catch (error) {
      if (!isConditionalCheckFailed(error)) {
        if (operation === 'acquireLock') throw error;
        let holder: Record<string, unknown> | undefined;
        try {
          holder = await this.read(key);
        } catch {
          throw error;
        }
        return this.ownedBy(holder, token) ? { acquired: true } : { acquired: false, holder };
      }
      // Rejected on the first attempt: someone else holds the key, no doubt about it. After an
      // SDK retry the rejection may be against our own claim, committed by an attempt whose
      // answer was lost: the owner token on the item tells.
      const attempts = attemptsOf(error);
      if (attempts <= 1) {
        if (operation === 'acquireLock') return { acquired: false, holder: undefined };
        return { acquired: false, holder: await this.holderAfterRejection(key, error) };
      }
      const holder = await this.holderAfterRejection(key, error);
      const acquired = this.ownedBy(holder, token);
      publish('ambiguousWriteResolved', () => ({
        table: this.table,
        key,
        operation,
        attempts,
        outcome: acquired ? 'acquired' : 'not-acquired',
      }));
      return acquired ? { acquired } : { acquired, holder };
    }
    if (replaced !== undefined) this.reportTakeover(key, replaced, now);
    return { acquired: true };
  }

  /**
   * Extends our lease to `validUntil`, conditioned on the lock still carrying `token`. A retry
   * of a renewal that committed meets its own token and succeeds again, so a lost answer needs
   * no resolving. Returns what holds the key instead when the lock is no longer ours.
   */
  async renew(
    key: string,
    token: string,
    validUntil: number,
    mark?: Mark,
  ): Promise<'renewed' | RenewalLoss | MarkFound> {
    const values = lockValues(key, token, validUntil);
    // A mark lives past the lease: the TTL sweeper must not take it with the lease.
    const params =
      mark === undefined
        ? this.renewParams(values)
        : this.markedRenewParams({
            ...values,
            expiresAt: toEpochSeconds(Math.max(validUntil, mark.markedUntil)),
            committedAt: mark.committedAt,
            markedUntil: mark.markedUntil,
          });
    try {
      await sendPut(this.client, params, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
      return 'renewed';
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const holder = await this.holderAfterRejection(key, error);
      const found = this.ownMark(holder, token);
      return found === undefined ? this.lossOf(holder) : { mark: found };
    }
  }

  /** The mark on our own lock item (owner `token`), if `holder` is one. */
  ownMark(holder: Record<string, unknown> | undefined, token: string): Mark | undefined {
    const lock = holder === undefined ? null : parseAs(this.locks, holder);
    return lock === null || lock.owner !== token ? undefined : markOf(lock);
  }

  /** How a lock was lost, by what holds its key instead. */
  lossOf(holder: Record<string, unknown> | undefined): RenewalLoss {
    if (holder === undefined) return 'removed';
    return parseAs(this.locks, holder) !== null ? 'taken-over' : 'replaced-by-record';
  }

  /**
   * Deletes the lock only while it still carries `token`: a holder whose lock lapsed and was
   * taken over leaves the new owner's lock alone, and a record that replaced the lock stays.
   * Our own lock marked by a fence is not deleted (the key stays closed until the mark ends):
   * its lease is ended instead, so that waiters stop at once and answer CONFLICT.
   */
  async release(key: string, token: string, mark?: Mark): Promise<void> {
    if (mark !== undefined) {
      // A mark that carries the response reads as the record already: nothing to end.
      if (!mark.withRecord) await this.endMarkedLease(key, token, mark);
      return;
    }
    const params = this.releaseParams({ cacheKey: key, owner: token });
    const result = await sendConditionalDelete(this.client, params, {
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (result.deleted) return;
    // Where the rejection carries no item (dynalite, or an empty key), one read tells.
    const holder = result.holder ?? (await this.read(key));
    const found = this.ownMark(holder, token);
    if (found !== undefined) {
      if (!found.withRecord) await this.endMarkedLease(key, token, found);
      return;
    }
    if (result.attempts > 1) {
      // The first attempt most likely removed it; whatever holds the key now is not ours.
      publish('ambiguousWriteResolved', () => ({
        table: this.table,
        key,
        operation: 'releaseLock',
        attempts: result.attempts,
        outcome: 'already-released',
      }));
    }
  }

  /** Rewrites our marked lock with its lease ended now, keeping the mark. */
  private async endMarkedLease(key: string, token: string, mark: Mark): Promise<void> {
    const now = Date.now();
    const params = this.markedRenewParams({
      ...lockValues(key, token, now),
      expiresAt: toEpochSeconds(Math.max(now, mark.markedUntil)),
      committedAt: mark.committedAt,
      markedUntil: mark.markedUntil,
    });
    try {
      await sendPut(this.client, params);
    } catch (error) {
      // No longer ours: whatever holds the key now is someone else's to end.
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  /** The key's item, by one consistent read, whoever wrote it. */
  async itemAt(key: string): Promise<Record<string, unknown> | undefined> {
    return this.read(key);
  }

  /** The owner token of the key's item, by one consistent read; undefined if it is no lock. */
  async ownerOf(key: string): Promise<string | undefined> {
    const item = await this.read(key);
    return item === undefined ? undefined : parseAs(this.locks, item)?.owner;
  }

  /** The item is our lock: it carries `token`. */
  private ownedBy(holder: Record<string, unknown> | undefined, token: string): boolean {
    return holder !== undefined && parseAs(this.locks, holder)?.owner === token;
  }

  /** The lock item of `values`, for the claim and each renewal. */
  private lockPut({ cacheKey, owner, validUntil, expiresAt }: LockValues) {
    return this.locks.put({ cacheKey, owner, validUntil, expiresAt });
  }

  /**
   * What held the key when a conditional write was rejected: the item that came back with the
   * rejection, or, where none does (an empty key, or dynalite, which never returns it), a read.
   */
  async holderAfterRejection(
    key: string,
    error: unknown,
  ): Promise<Record<string, unknown> | undefined> {
    return itemOfFailedCondition(error) ?? (await this.read(key));
  }

  private reportTakeover(key: string, replaced: Record<string, unknown>, now: number): void {
    // An expired record is no one's lease; only a lapsed lock was taken over.
    const lapsed = parseAs(this.locks, replaced);
    if (lapsed === null) return;
    publish('lockTakeover', () => ({ table: this.table, key, lapsedMs: now - lapsed.validUntil }));
  }
}

function lockValues(cacheKey: string, owner: string, validUntil: number): LockValues {
  return { cacheKey, owner, validUntil, expiresAt: toEpochSeconds(validUntil) };
}
