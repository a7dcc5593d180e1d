import type { ElectroDynamoAdapterOptions } from '../../src/options.js';

/**
 * The adapter's two request patterns. Suites that prove exactly-once (contention, crashes,
 * injected faults, stress) run in each: claim-on-miss moves the claim from `acquireLock` into
 * `get`, which is where those proofs could break.
 */
export const ADAPTER_MODES = [
  { mode: 'default', options: {}, claimsOnGet: false },
  { mode: 'claim-on-miss', options: { claimOnMiss: true }, claimsOnGet: true },
] as const satisfies readonly {
  mode: string;
  options: Partial<ElectroDynamoAdapterOptions>;
  claimsOnGet: boolean;
}[];

export type AdapterMode = (typeof ADAPTER_MODES)[number];
