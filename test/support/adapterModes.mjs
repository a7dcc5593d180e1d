// The adapter's two request patterns. Suites that prove exactly-once (contention, crashes,
// injected faults, stress) run in each: claim-on-miss moves the claim from `acquireLock` into
// `get`, which is where those proofs could break. `npm run stress -- --mode <mode>` picks one.
export const ADAPTER_MODES = Object.freeze([
  Object.freeze({ mode: 'default', options: Object.freeze({}), claimsOnGet: false }),
  Object.freeze({
    mode: 'claim-on-miss',
    options: Object.freeze({ claimOnMiss: true }),
    claimsOnGet: true,
  }),
]);
