import { channel } from 'node:diagnostics_channel';
import type { Operation } from '../adapter/shared/storageError.js';

/**
 * Names of the `node:diagnostics_channel` channels the adapter publishes on. Subscribe with
 * `diagnostics_channel.subscribe(name, listener)`; with no subscriber nothing is built or sent.
 */
export const IDEMPOTENCY_CHANNELS = {
  /** A claim replaced a lock whose lease had lapsed: its holder died, stalled or ran past the hold cap. */
  lockTakeover: 'electrodb-idempotency:lock:takeover',
  /** This instance extended the lease of a lock it holds. */
  leaseRenewed: 'electrodb-idempotency:lease:renewed',
  /** A lock this instance held is no longer its own: taken over, replaced, removed or lapsed. */
  leaseLost: 'electrodb-idempotency:lease:lost',
  /**
   * A claim, renewal, `set` or release of a held key was answered with less than a third of its
   * lease left, or after it had lapsed: requests are becoming as slow as the leases they carry.
   */
  leaseAtRisk: 'electrodb-idempotency:lease:at-risk',
  /** This instance stopped renewing a lock it has held for `maxHoldMs`; the lease now lapses. */
  holdCapReached: 'electrodb-idempotency:lease:hold-cap-reached',
  /** A response was stored gzip-compressed to fit DynamoDB's 400 KB item limit. */
  responseCompressed: 'electrodb-idempotency:response:compressed',
  /** A write whose first answer was lost (the SDK retried it) was resolved by its owner token. */
  ambiguousWriteResolved: 'electrodb-idempotency:write:ambiguous-resolved',
  /** A DynamoDB request failed after the SDK's retries (or a lease renewal failed). */
  storageError: 'electrodb-idempotency:storage-error',
} as const;

/** Fields every event carries. */
export interface IdempotencyEventBase {
  readonly table: string;
  /** The cache key, as given to the adapter. */
  readonly key: string;
}

export interface LockTakeoverEvent extends IdempotencyEventBase {
  /** Milliseconds between the previous lease's end and this claim. */
  readonly lapsedMs: number;
}

export interface LeaseRenewedEvent extends IdempotencyEventBase {
  /** The new end of the lease, epoch milliseconds. */
  readonly validUntil: number;
  /** Renewals of this acquisition so far, this one included. */
  readonly renewals: number;
}

export type LeaseLostReason =
  /** Another owner's lock holds the key: this lease had lapsed and was claimed. */
  | 'taken-over'
  /** A record replaced the lock (a `set`, possibly through another instance). */
  | 'replaced-by-record'
  /** The key is empty: the lock was deleted. */
  | 'removed'
  /** Renewals kept failing until the lease ended. */
  | 'lapsed';

export interface LeaseLostEvent extends IdempotencyEventBase {
  readonly reason: LeaseLostReason;
  /** Milliseconds this instance had held the lock. */
  readonly heldMs: number;
}

export interface LeaseAtRiskEvent extends IdempotencyEventBase {
  /** The lease-bearing request: `claim` (by `acquireLock`, or by `get` with `claimOnMiss`), a
   * `renewal`, the `set` that stores a held key's record, or the `release` of a held key. */
  readonly request: 'claim' | 'renewal' | 'set' | 'release';
  /** Milliseconds from sending the request to its answer (the SDK's retries included). */
  readonly latencyMs: number;
  /** The lease length (`lockTtl`). */
  readonly leaseMs: number;
  /** Milliseconds of the lease left when the answer came; negative once it had lapsed. */
  readonly leftMs: number;
  /** The lease had ended before the answer came: another caller may have claimed the key. */
  readonly lapsed: boolean;
}

export interface HoldCapReachedEvent extends IdempotencyEventBase {
  readonly maxHoldMs: number;
  /** When the lease lapses now that renewal has stopped, epoch milliseconds. */
  readonly validUntil: number;
}

export interface ResponseCompressedEvent extends IdempotencyEventBase {
  /** Item size with the response as plain text. */
  readonly bytes: number;
  /** Item size with the response compressed. */
  readonly compressedBytes: number;
}

export interface AmbiguousWriteResolvedEvent extends IdempotencyEventBase {
  /** `get` when the claim was one that `get` makes in claim-on-miss mode. */
  readonly operation: 'get' | 'acquireLock' | 'releaseLock';
  /** How many times the SDK sent the request. */
  readonly attempts: number;
  /**
   * `acquired`: the claim that was rejected on retry had committed on an earlier attempt.
   * `not-acquired`: another owner holds the key. `already-released`: the retried delete found
   * the lock gone, removed by an earlier attempt.
   */
  readonly outcome: 'acquired' | 'not-acquired' | 'already-released';
}

export interface StorageErrorEvent extends IdempotencyEventBase {
  /** The adapter method, or `renewLock` for a lease renewal in the background. */
  readonly operation: Operation | 'renewLock';
  /** How many times the SDK sent the last request (0 when it never left the process). */
  readonly attempts: number;
  /** Milliseconds from the method's start to its failure. */
  readonly durationMs: number;
  readonly error: Error;
}

/** Each channel's payload type, by channel key. */
export interface IdempotencyEvents {
  lockTakeover: LockTakeoverEvent;
  leaseRenewed: LeaseRenewedEvent;
  leaseLost: LeaseLostEvent;
  leaseAtRisk: LeaseAtRiskEvent;
  holdCapReached: HoldCapReachedEvent;
  responseCompressed: ResponseCompressedEvent;
  ambiguousWriteResolved: AmbiguousWriteResolvedEvent;
  storageError: StorageErrorEvent;
}

type ChannelKey = keyof typeof IDEMPOTENCY_CHANNELS;

const channels = Object.fromEntries(
  Object.entries(IDEMPOTENCY_CHANNELS).map(([name, id]) => [name, channel(id)]),
) as Record<ChannelKey, ReturnType<typeof channel>>;

/** True when someone listens on the channel: check before building a payload. */
export function hasSubscribers(name: ChannelKey): boolean {
  return channels[name].hasSubscribers;
}

/**
 * Publishes to the channel when it has subscribers. The payload is built by `build` only
 * then, so an unwatched event costs one property read.
 */
export function publish<K extends ChannelKey>(name: K, build: () => IdempotencyEvents[K]): void {
  const target = channels[name];
  if (target.hasSubscribers) target.publish(build());
}
