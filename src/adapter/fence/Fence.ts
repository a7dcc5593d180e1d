import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  type TransactWriteCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { CreateEntityItem, PutRecordGoTransaction } from 'electrodb';
import type { LockEntity } from '../../entities/createLockEntity.js';
import { adoptCoreError } from '../../errors/adoptCoreError.js';
import type { LeaseLostReason } from '../../events/channels.js';
import type { HeldLock } from '../locks/HeldLocks.js';
import type { LockStore } from '../locks/LockStore.js';
import { itemBytes, MAX_ITEM_BYTES } from '../records/itemSize.js';
import { encodeRecord, serializationError } from '../records/recordCodec.js';
import { toEpochSeconds } from '../shared/time.js';
import {
  fenceError,
  isNoTransactions,
  leaseLostError,
  noTransactionsError,
} from './fenceErrors.js';
import type { Mark } from './marks.js';

/** A response handed to the fence: stored in the mark, served by `get` as the key's record. */
export interface FencedResponse {
  response: unknown;
  /** HTTP status, as a framework integration stores it. */
  statusCode?: number;
  headers?: Record<string, string>;
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The fence's transaction item: a Put in the document client's plain-JSON form. */
export interface FenceItem extends TransactItem {
  readonly Put: NonNullable<TransactItem['Put']>;
}

/** The fence's item as ElectroDB's `.commit()` of a put returns it, for `service.transaction.write`. */
export type FenceCommit = ReturnType<PutRecordGoTransaction<unknown>>;

/** An ElectroDB transaction before `.go()`: what `service.transaction.write(fn)` returns. */
export interface ElectroTransaction {
  params(options?: object): object;
  go(options?: object): Promise<unknown>;
}

/**
 * Writes "only while this execution still holds its idempotency key". Its item, put in the same
 * DynamoDB transaction as the handler's own writes, rewrites the key's lock item on condition
 * that it still carries this execution's owner token, and marks the key "effects committed":
 * a holder that stalled past its lease and was taken over commits nothing, and once committed
 * no claim runs the handler again before the mark ends.
 */
export interface Fence {
  /** The cache key whose lock this fence checks. */
  readonly key: string;
  readonly table: string;
  /**
   * The fence's item for `TransactItems` (lib-dynamodb's `TransactWriteCommand`). With
   * `response`, the mark also
   * carries the handler's response: `get` serves it as the record if the process dies before
   * `set`.
   */
  item(options?: { response?: FencedResponse }): FenceItem;
  /** The same item typed as ElectroDB's `.commit()`, for the array `service.transaction.write(fn)` returns. */
  commit(options?: { response?: FencedResponse }): FenceCommit;
  /**
   * Sends a `TransactWriteCommand` whose items include `item()`. Rejects with CONFLICT
   * (`lease-lost`) when the fence's own condition failed; a cancellation by your own
   * conditions rejects with the SDK's `TransactionCanceledException`, as without the fence.
   */
  send(
    client: DynamoDBDocumentClient,
    input: TransactWriteCommandInput,
  ): Promise<TransactWriteCommandOutput>;
  /**
   * Runs an ElectroDB transaction (`service.transaction.write(fn)`, not yet `.go()`-ed) whose
   * items include `commit()`, and resolves with ElectroDB's result. Rejects with CONFLICT
   * (`lease-lost`) when the fence's own condition failed; a cancellation by your own conditions
   * resolves with `{ canceled: true, data }`, as ElectroDB does.
   */
  go<T extends ElectroTransaction>(transaction: T): Promise<Awaited<ReturnType<T['go']>>>;
}

/** What the adapter lends a fence. */
export interface FenceDeps {
  readonly table: string;
  readonly markTtlMs: number;
  readonly lockEntity: LockEntity;
  readonly locks: LockStore;
  /** The transaction committed: the lock now carries `mark`, and the lease end `leaseEnd`. */
  onCommitted(key: string, lock: HeldLock, mark: Mark, leaseEnd: number): void;
  /** The fence's condition failed: the lock is someone else's (or gone). */
  onLost(key: string, lock: HeldLock, reason: Exclude<LeaseLostReason, 'lapsed'>): void;
}

/** A transaction cancelled by a concurrent write to the lock item (our own renewal) is retried. */
const CONFLICT_RETRIES = 3;
const CONFLICT_BACKOFF_MS = 20;

export const LOST_TO: Record<Exclude<LeaseLostReason, 'lapsed'>, string> = {
  'taken-over': 'its lease lapsed and another caller took the key over',
  'replaced-by-record': 'a record completed the key',
  removed: 'the lock was removed',
};

interface Cancellation {
  readonly fence: string | undefined;
  readonly others: readonly (string | undefined)[];
}

/** The fence's item found in a transaction: where it sits, and what it marks the key with. */
interface SentItem {
  readonly index: number;
  readonly commitId: string;
  readonly mark: Mark;
  /** The lease end the item writes: what the holder knew when it was built. */
  readonly leaseEnd: number;
}

/** The fence of one acquisition of a key. */
export class LockFence implements Fence {
  readonly table: string;

  constructor(
    readonly key: string,
    private readonly lock: HeldLock,
    private readonly deps: FenceDeps,
  ) {
    this.table = deps.table;
  }

  commit(options: { response?: FencedResponse } = {}): FenceCommit {
    return this.item(options) as unknown as FenceCommit;
  }

  item(options: { response?: FencedResponse } = {}): FenceItem {
    const { key, lock, deps } = this;
    const token = lock.token;
    const committedAt = Date.now();
    const markedUntil = committedAt + deps.markTtlMs;
    const commitId: string = randomUUID();
    const values: CreateEntityItem<LockEntity> = {
      cacheKey: key,
      owner: token,
      validUntil: lock.validUntil,
      // The TTL sweeper must not take the mark with the lease.
      expiresAt: toEpochSeconds(Math.max(lock.validUntil, markedUntil)),
      committedAt,
      markedUntil,
      commitId,
    };
    const given = options.response;
    if (given !== undefined) {
      const record = encodeRecord(key, {
        response: given.response,
        createdAt: committedAt,
        ttl: deps.markTtlMs,
        ...(given.statusCode === undefined ? {} : { statusCode: given.statusCode }),
        ...(given.headers === undefined ? {} : { headers: given.headers }),
      });
      values.ttlMs = deps.markTtlMs;
      if (record.response !== undefined) values.response = record.response;
      if (record.statusCode !== undefined) values.statusCode = record.statusCode;
      if (record.headers !== undefined) values.headers = record.headers;
    }
    // Another fenced transaction of this execution commits again; the same one resent (after the
    // SDK gave up on an answer that was lost) finds its own commitId and writes nothing twice.
    const put = deps.lockEntity
      .put(values)
      .where(
        ({ owner, commitId: committed }, { eq, ne, notExists }) =>
          `${eq(owner, token)} AND (${notExists(committed)} OR ${ne(committed, commitId)})`,
      );
    // ElectroDB types `commit` only on entities inside a transaction callback; every put has it.
    const item = (put as unknown as { commit(): FenceItem }).commit();
    if (given !== undefined) {
      const bytes = itemBytes(marshall(item.Put.Item));
      if (bytes > MAX_ITEM_BYTES) {
        throw serializationError(
          key,
          `The response given to the fence makes its item ${bytes} bytes, over DynamoDB's item limit of ${MAX_ITEM_BYTES} bytes (400 KB): give the fence no response and let set store it (compressed)`,
          undefined,
          'set',
          { bytes, limit: MAX_ITEM_BYTES },
        );
      }
    }
    return item;
  }

  async send(
    client: DynamoDBDocumentClient,
    input: TransactWriteCommandInput,
  ): Promise<TransactWriteCommandOutput> {
    const sent = await this.find(input.TransactItems);
    for (let attempt = 0; ; attempt += 1) {
      try {
        const output = await client.send(new TransactWriteCommand(input));
        this.committed(sent);
        return output;
      } catch (error) {
        if (isNoTransactions(error)) {
          throw await adoptCoreError(noTransactionsError(this.table, this.key, error));
        }
        if (!isCancellation(error)) throw error;
        const codes = (error.CancellationReasons ?? []).map((reason) => reason?.Code);
        const verdict = await this.judge(cancellationAt(codes, sent.index), sent, attempt);
        if (verdict === 'retry') continue;
        // The same transaction committed earlier: nothing was written twice.
        if (verdict === 'committed') return { $metadata: {} };
        throw error;
      }
    }
  }

  async go<T extends ElectroTransaction>(transaction: T): Promise<Awaited<ReturnType<T['go']>>> {
    const { TransactItems } = transaction.params() as { TransactItems?: unknown[] };
    const sent = await this.find(TransactItems);
    for (let attempt = 0; ; attempt += 1) {
      let result: { canceled?: boolean; data?: Array<{ code?: string }> };
      try {
        result = (await transaction.go()) as typeof result;
      } catch (error) {
        if (isNoTransactions(error)) {
          throw await adoptCoreError(noTransactionsError(this.table, this.key, error));
        }
        throw error;
      }
      if (result.canceled !== true) {
        this.committed(sent);
        return result as Awaited<ReturnType<T['go']>>;
      }
      const codes = (result.data ?? []).map((entry) => entry?.code);
      const verdict = await this.judge(cancellationAt(codes, sent.index), sent, attempt);
      if (verdict === 'retry') continue;
      if (verdict === 'committed') {
        // The same transaction committed earlier: ElectroDB's answer for a committed one.
        const data = (TransactItems ?? []).map(() => ({ rejected: false, item: null }));
        return { canceled: false, data } as Awaited<ReturnType<T['go']>>;
      }
      return result as Awaited<ReturnType<T['go']>>;
    }
  }

  /**
   * A cancelled transaction: the fence's failed condition means the lock is lost (thrown);
   * a conflict on the lock item alone (our renewal writing it at that moment) is worth another
   * try; anything else is the caller's own transaction failing, left to them.
   */
  private async judge(
    cancellation: Cancellation,
    sent: SentItem,
    attempt: number,
  ): Promise<'retry' | 'theirs' | 'committed'> {
    if (cancellation.fence === 'ConditionalCheckFailed') {
      const holder = await this.holder();
      const ours = this.deps.locks.ownMark(holder, this.lock.token) !== undefined;
      if (ours && holder?.commitId === sent.commitId) {
        this.committed(sent);
        return 'committed';
      }
      throw await this.lost(holder);
    }
    const onlyConflictHere =
      cancellation.fence === 'TransactionConflict' &&
      cancellation.others.every((code) => code === undefined || code === 'None');
    if (onlyConflictHere && attempt < CONFLICT_RETRIES) {
      await new Promise((resolve) => setTimeout(resolve, CONFLICT_BACKOFF_MS * (attempt + 1)));
      return 'retry';
    }
    return 'theirs';
  }

  /** This fence's item in a transaction's items (found by its owner token), and its mark. */
  private async find(items: readonly unknown[] | undefined): Promise<SentItem> {
    const token = this.lock.token;
    const putOf = (entry: unknown) =>
      (entry as { Put?: { TableName?: unknown; Item?: Record<string, unknown> } } | undefined)?.Put;
    const index = (items ?? []).findIndex((entry) => {
      const put = putOf(entry);
      return put?.TableName === this.table && put.Item?.owner === token;
    });
    const item = putOf(items?.[index])?.Item;
    if (index < 0 || item === undefined) {
      throw await adoptCoreError(
        fenceError(
          'item-missing',
          `The transaction does not carry the fence's item for key ${JSON.stringify(this.key)}: add fence.item() to its items`,
          { table: this.table, key: this.key },
        ),
      );
    }
    // The mark is the one this very item writes (another built since may differ).
    const mark: Mark = {
      committedAt: Number(item.committedAt),
      markedUntil: Number(item.markedUntil),
      withRecord: item.ttlMs !== undefined,
    };
    return { index, commitId: String(item.commitId), mark, leaseEnd: Number(item.validUntil) };
  }

  private committed(sent: SentItem): void {
    this.deps.onCommitted(this.key, this.lock, sent.mark, sent.leaseEnd);
  }

  /** What holds the key after the fence's condition failed, by one read (undefined if it fails). */
  private async holder(): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.deps.locks.itemAt(this.key);
    } catch {
      return undefined;
    }
  }

  /** The lock is lost to `holder`: said by an event, and by the error the caller gets. */
  private async lost(holder: Record<string, unknown> | undefined): Promise<unknown> {
    const reason = this.deps.locks.lossOf(holder);
    this.deps.onLost(this.key, this.lock, reason);
    return adoptCoreError(leaseLostError('fence', this.table, this.key, LOST_TO[reason]));
  }
}

function isCancellation(
  error: unknown,
): error is Error & { CancellationReasons?: Array<{ Code?: string } | undefined> } {
  return error instanceof Error && error.name === 'TransactionCanceledException';
}

function cancellationAt(codes: readonly (string | undefined)[], index: number): Cancellation {
  return { fence: codes[index], others: codes.filter((_, at) => at !== index) };
}
