import { createError } from '../../errors/createError.js';
import { IdempotencyErrorCode } from '../../errors/IdempotencyErrorCode.js';
import type { KeyItem } from '../requests/entityRequests.js';
import { isLive } from '../shared/time.js';
import type { WaitReceipts } from './WaitReceipts.js';

const LOCK_TIMEOUT_MESSAGE = 'Lock wait timeout exceeded';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * How a caller that lost the claim waits: a consistent read of the key every `pollIntervalMs`
 * until no live lock holds it (released, replaced by a record, or lapsed), or LOCK_TIMEOUT.
 * The poll that ends the wait leaves a receipt for the `get` the core makes next.
 */
export async function waitUntilFree(
  readKey: (key: string) => Promise<KeyItem>,
  receipts: WaitReceipts,
  table: string,
  key: string,
  {
    startedAt,
    timeoutMs,
    pollIntervalMs,
  }: { startedAt: number; timeoutMs: number; pollIntervalMs: number },
): Promise<void> {
  const deadline = startedAt + timeoutMs;
  for (;;) {
    const sentAt = Date.now();
    const { lock, record } = await readKey(key);
    const now = Date.now();
    // Judged at the poll's sending, as a claim sent then would be: the item was read at some
    // moment after it, and an answer that comes late must not make a live holder's lease look
    // lapsed (its renewal may have landed meanwhile).
    if (lock === null || !isLive(lock.validUntil, sentAt)) {
      // The get that follows knows it comes after a wait (and needs no read for a record).
      receipts.keepReceipt(key, record, now);
      return;
    }
    const remaining = deadline - now;
    if (remaining <= 0) {
      throw createError(IdempotencyErrorCode.LOCK_TIMEOUT, LOCK_TIMEOUT_MESSAGE, {
        context: { operation: 'waitForLock', table, key, timeoutMs },
      });
    }
    await sleep(Math.min(pollIntervalMs, remaining));
  }
}
