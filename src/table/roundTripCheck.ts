import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ElectroDynamoAdapter } from '../adapter/ElectroDynamoAdapter.js';
import { DEFAULTS } from '../options.js';
import type { IdempotencyRecord } from '../types.js';
import type { CheckTableOptions } from './checkTableOptions.js';
import { fail, pass, type TableCheck } from './tableCheck.js';
import { describeAwsError } from './tableClient.js';

const NAME = 'round trip';

// Short, so a record the check could not delete soon reads as absent and TTL removes it.
const CHECK_RECORD_TTL_MS = 60_000;

/** The AWS error behind the adapter's STORAGE_ERROR, which is what the user can act on. */
function rootCause(error: unknown): unknown {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error ? cause : error;
}

/**
 * Sets, reads back and deletes a record through a real adapter, under a random key in the
 * prefix: proof that the options, the table and the credentials work together.
 */
export async function checkRoundTrip(options: CheckTableOptions): Promise<TableCheck> {
  let adapter: ElectroDynamoAdapter;
  try {
    // Without the local cache, so the record is really read back from the table.
    const { localCache: _ignored, ...uncached } = options;
    adapter = new ElectroDynamoAdapter(uncached);
  } catch (error) {
    return fail(NAME, `The adapter rejects these options: ${describeAwsError(error)}`);
  }

  const key = `__check__${randomUUID()}`;
  const partitionKey = `${options.prefix}${options.separator ?? DEFAULTS.separator}${key}`;
  const record: IdempotencyRecord = {
    response: { check: 'electrodb-idempotency' },
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    createdAt: Date.now(),
    ttl: CHECK_RECORD_TTL_MS,
  };
  let step = 'set';
  let written = false;
  try {
    await adapter.set(key, record);
    written = true;
    step = 'get';
    const stored = await adapter.get(key);
    if (!isDeepStrictEqual(stored, record)) {
      await adapter.delete(key).catch(() => undefined);
      return fail(
        NAME,
        `Read back ${JSON.stringify(stored)} from "${partitionKey}" after writing ${JSON.stringify(record)}`,
      );
    }
    step = 'delete';
    await adapter.delete(key);
    written = false;
    step = 'get after delete';
    const left = await adapter.get(key);
    if (left !== null) {
      return fail(NAME, `The record at "${partitionKey}" was still there after delete`);
    }
  } catch (error) {
    const removed =
      !written ||
      (await adapter.delete(key).then(
        () => true,
        () => false,
      ));
    const leftover = removed
      ? ''
      : ` (the test record at "${partitionKey}" remains; it reads as absent after 60 s)`;
    return fail(NAME, `${step} failed: ${describeAwsError(rootCause(error))}${leftover}`);
  }
  return pass(NAME, `Set, read back and deleted a record at "${partitionKey}"`);
}
