import { executeLikeCore } from '../../test/support/coreReference.mjs';

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

/** One flow, as each contender runs it. */
export function flowsFor(contender) {
  if (contender.kind === 'powertools') {
    const driver = contender.driver;
    return {
      first: (key) => driver.firstExecution(key, async () => response(key)),
      replay: (key) => driver.replay(key),
      contended: (key, handler) => driver.contendedCall(key, handler),
    };
  }
  const adapter = contender.adapter;
  return {
    first: (key) => executeLikeCore(adapter, key, async () => response(key), CORE_OPTIONS),
    replay: (key) => executeLikeCore(adapter, key, async () => response(key), CORE_OPTIONS),
    contended: (key, handler) => executeLikeCore(adapter, key, handler, CORE_OPTIONS),
  };
}
