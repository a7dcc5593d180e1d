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

/**
 * The fenced phase's stalls, identical in every process for one seed: `stallShare` of the keys
 * (at least one) get a stalled holder. For such a key, `stalledCaller` starts at once, claims,
 * and sleeps past its lease (renewal off) before its fenced write; the other callers start
 * `delays[caller]` ms after its claim, alternately early (they find it holding and wait) or
 * late (after its lease lapsed: the first takes the key over and commits, so the stalled
 * holder's fence must fail). Keys without a stall are null: plain contention with `jitterMs`
 * start jitter.
 */
export function fencedPlan(seed, keys, callers, fenced) {
  const next = seededRandom((seed ^ 0x5f3759df) >>> 0);
  const between = ([min, max]) => min + Math.floor(next() * (max - min + 1));
  const order = Array.from({ length: keys }, (_, index) => index);
  for (let index = keys - 1; index > 0; index -= 1) {
    const other = Math.floor(next() * (index + 1));
    [order[index], order[other]] = [order[other], order[index]];
  }
  const stalled = Math.min(keys, Math.max(1, Math.round(keys * fenced.stallShare)));
  const plan = Array.from({ length: keys }, () => null);
  for (const keyIndex of order.slice(0, stalled).sort((a, b) => a - b)) {
    const stalledCaller = Math.floor(next() * callers);
    let others = 0;
    const delays = Array.from({ length: callers }, (_, caller) => {
      if (caller === stalledCaller) return 0;
      others += 1;
      return between(others % 2 === 1 ? fenced.earlyMs : fenced.lateMs);
    });
    plan[keyIndex] = { stalledCaller, delays };
  }
  return plan;
}
