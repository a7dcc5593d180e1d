import { seededRandom } from '../test/support/seededRandom.mjs';

// The parent and every worker derive the same handler durations from one printed seed, so a
// failing run can be replayed with --seed.

/**
 * Handler duration of every key, in ms below `maxMs`; identical in every process for one seed.
 * With `slow`, a `share` of the keys (drawn from the same seed) take `minMs` to `maxMs` instead:
 * handlers slower than the lock ttl, which only lease renewal keeps from running twice.
 */
export function handlerDurations(seed, keys, maxMs, slow = { share: 0, minMs: 0, maxMs: 0 }) {
  const next = seededRandom(seed);
  return Array.from({ length: keys }, () => {
    const fast = Math.floor(next() * maxMs);
    const isSlow = next() < slow.share;
    return isSlow ? slow.minMs + Math.floor(next() * (slow.maxMs - slow.minMs)) : fast;
  });
}

export function keyName(seed, index) {
  return `stress-${seed}-${index}`;
}
