import { createError } from '../../errors/createError.js';
import type { IdempotencyError } from '../../errors/IdempotencyError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';

/**
 * Why the fence refused, in `error.context.reason` of the `IdempotencyError` it throws:
 * - `lease-lost` (CONFLICT): the key's lock is no longer this execution's (its lease lapsed and
 *   another caller took the key, or the key was released or completed); nothing was written.
 * - `no-transactions` (INVALID_CONFIG): the endpoint does not implement TransactWriteItems
 *   (dynalite); the fence needs DynamoDB or DynamoDB Local.
 * - `outside-scope`, `no-lock`, `several-locks` (INVALID_CONFIG): `currentFence()` was asked
 *   for outside a fence scope, with no lock held in it, or with several and no `key` to choose.
 * - `item-missing` (INVALID_CONFIG): a transaction given to the fence does not carry its item.
 */
export type FenceErrorReason =
  | 'lease-lost'
  | 'no-transactions'
  | 'outside-scope'
  | 'no-lock'
  | 'several-locks'
  | 'item-missing';

const REASONS: ReadonlySet<string> = new Set<FenceErrorReason>([
  'lease-lost',
  'no-transactions',
  'outside-scope',
  'no-lock',
  'several-locks',
  'item-missing',
]);

/** The reason of an error the fence (or a fenced `set`) threw; undefined for any other error. */
export function fenceErrorReason(error: unknown): FenceErrorReason | undefined {
  if (!(error instanceof Error) || error.name !== 'IdempotencyError') return undefined;
  const reason = (error as { context?: { reason?: unknown } }).context?.reason;
  return typeof reason === 'string' && REASONS.has(reason)
    ? (reason as FenceErrorReason)
    : undefined;
}

export function fenceError(
  reason: FenceErrorReason,
  message: string,
  context: Record<string, unknown> = {},
  cause?: unknown,
): IdempotencyError {
  const code =
    reason === 'lease-lost' ? IdempotencyErrorCode.CONFLICT : IdempotencyErrorCode.INVALID_CONFIG;
  return createError(code, message, {
    context: { ...context, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * A lock lost: CONFLICT, the core's code for "another execution has this key" (409). Not
 * STORAGE_ERROR: that is recoverable (503, retry), and no retry of this write can succeed;
 * the client's own retry of the request gets the successor's record.
 */
export function leaseLostError(
  operation: 'set' | 'fence',
  table: string,
  key: string,
  lostTo: string,
): IdempotencyError {
  const wrote = operation === 'set' ? 'the record was not stored' : 'the transaction wrote nothing';
  return fenceError(
    'lease-lost',
    `The lock on key ${JSON.stringify(key)} in table "${table}" is no longer this execution's (${lostTo}): ${wrote}`,
    { operation, table, key, lostTo },
  );
}

const NO_TRANSACTIONS = /UnknownOperation/i;

/** The endpoint rejected TransactWriteItems as an operation it does not know (dynalite). */
export function isNoTransactions(error: unknown): boolean {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 5; depth += 1) {
    if (NO_TRANSACTIONS.test(at.name) || NO_TRANSACTIONS.test(at.message)) return true;
    at = at.cause;
  }
  return false;
}

export function noTransactionsError(table: string, key: string, cause: unknown): IdempotencyError {
  return fenceError(
    'no-transactions',
    `The DynamoDB endpoint of table "${table}" does not implement transactions (TransactWriteItems was refused as an unknown operation), so the fence cannot write: dynalite has none; use DynamoDB or DynamoDB Local`,
    { table, key },
    cause,
  );
}
