import { seededRandom } from '../test/support/seededRandom.mjs';

// The parent and every worker derive the same handler durations from one printed seed, so a
// failing run can be replayed with --seed.

/** Handler duration of every key, in ms below `maxMs`; identical in every process for one seed. */
export function handlerDurations(seed, keys, maxMs) {
  const next = seededRandom(seed);
  return Array.from({ length: keys }, () => Math.floor(next() * maxMs));
}

export function keyName(seed, index) {
  return `stress-${seed}-${index}`;
}
