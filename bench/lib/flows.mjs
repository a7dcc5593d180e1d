import { createHash } from 'node:crypto';
import { executeLikeCore } from '../../test/support/coreReference.mjs';

/**
 * The core's cache key: SHA-256 of method, path, key and body hash. Powertools hashes its
 * payload too, so every contender pays for hashing.
 */
export function coreCacheKey(key) {
  const bodyHash = createHash('sha256')
    .update(JSON.stringify({ orderId: key, amount: 42 }))
    .digest('hex');
  return createHash('sha256').update(`POST:/orders:${key}:${bodyHash}:`).digest('hex');
}

/** The core's call sequence with its defaults, apart from a short poll for the contention flow. */
export const CORE_OPTIONS = {
  ttl: 3_600_000,
  lockTtl: 10_000,
  lockTimeout: 10_000,
  lockPollInterval: 5,
};

export const response = (key) => ({
  orderId: key,
  status: 'created',
  total: 42.5,
  items: [1, 2, 3],
});

/** One flow, as each contender runs it; `body` is what a first execution's handler returns. */
export function flowsFor(contender, body = response) {
  if (contender.kind === 'powertools') {
    const driver = contender.driver;
    return {
      first: (key) => driver.firstExecution(key, async () => body(key)),
      replay: (key) => driver.replay(key),
      contended: (key, handler) => driver.contendedCall(key, handler),
    };
  }
  const adapter = contender.adapter;
  const run = (key, handler) => executeLikeCore(adapter, coreCacheKey(key), handler, CORE_OPTIONS);
  return {
    first: (key) => run(key, async () => body(key)),
    replay: (key) => run(key, async () => body(key)),
    contended: (key, handler) => run(key, handler),
    /**
     * A caller arriving while another holds the key: loses the claim, waits (polling every
     * `pollMs`), replays. `onWait` is called as the wait begins.
     */
    waiting: (key, pollMs, onWait) => {
      const observed = Object.create(adapter, {
        waitForLock: {
          value: (k, timeoutMs, intervalMs) => {
            onWait();
            return adapter.waitForLock(k, timeoutMs, intervalMs);
          },
        },
      });
      return executeLikeCore(observed, coreCacheKey(key), async () => body(key), {
        ...CORE_OPTIONS,
        lockPollInterval: pollMs,
      });
    },
    // A first execution whose handler fails: the core stores the error, rethrows and releases.
    failing: (key) =>
      run(key, async () => {
        throw new Error(`order ${key} failed`);
      }).catch(() => undefined),
  };
}
