// npm run stress: the multi-process contention run at full size. Exits 1 when an invariant
// fails or the run outlives its deadline.
//
//   node stress/run.mjs [--processes 4] [--keys 2000] [--callers 8] [--seed N]
//                       [--deadline-ms 60000] [--window 8] [--backend dynalite|dynamodb-local]
//                       [--mode default|claim-on-miss] [--only contention|slow|fenced]...
//   (or STRESS_PROCESSES, STRESS_KEYS, STRESS_CALLERS, STRESS_SEED, STRESS_DEADLINE_MS,
//   STRESS_WINDOW, STRESS_BACKEND, STRESS_MODE, STRESS_ONLY=fenced,slow)
//
// The "fenced orders" phase needs transactions: it runs on dynamodb-local and is skipped (with
// a line saying so) on dynalite.

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ADAPTER_MODES } from '../test/support/adapterModes.mjs';
import {
  FENCED_PHASE,
  fencedViolations,
  runFencedStress,
  runStress,
  SLOW_PHASE,
  STRESS_DEFAULTS,
  violations,
} from './harness.mjs';

const { values } = parseArgs({
  options: {
    processes: { type: 'string' },
    keys: { type: 'string' },
    callers: { type: 'string' },
    seed: { type: 'string' },
    'deadline-ms': { type: 'string' },
    window: { type: 'string' },
    backend: { type: 'string' },
    mode: { type: 'string' },
    only: { type: 'string', multiple: true },
  },
});

const PHASE_NAMES = ['contention', 'slow', 'fenced'];
const only = values.only ?? process.env.STRESS_ONLY?.split(',').filter(Boolean) ?? PHASE_NAMES;
const unknownPhase = only.find((name) => !PHASE_NAMES.includes(name));
if (unknownPhase !== undefined) {
  console.error(`--only / STRESS_ONLY takes ${PHASE_NAMES.join(', ')} (got "${unknownPhase}")`);
  process.exit(2);
}

const backend = values.backend ?? process.env.STRESS_BACKEND ?? 'dynalite';
if (!['dynalite', 'dynamodb-local'].includes(backend)) {
  console.error(`--backend / STRESS_BACKEND must be dynalite or dynamodb-local (got "${backend}")`);
  process.exit(2);
}

const mode = values.mode ?? process.env.STRESS_MODE ?? 'default';
const adapterMode = ADAPTER_MODES.find((candidate) => candidate.mode === mode);
if (adapterMode === undefined) {
  const names = ADAPTER_MODES.map((candidate) => candidate.mode).join(' or ');
  console.error(`--mode / STRESS_MODE must be ${names} (got "${mode}")`);
  process.exit(2);
}

function option(flag, envName, fallback) {
  const raw = values[flag] ?? process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) {
    console.error(`--${flag} / ${envName} must be an integer (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return value;
}

const options = {
  processes: option('processes', 'STRESS_PROCESSES', STRESS_DEFAULTS.processes),
  keys: option('keys', 'STRESS_KEYS', STRESS_DEFAULTS.keys),
  callers: option('callers', 'STRESS_CALLERS', STRESS_DEFAULTS.callers),
  seed: option('seed', 'STRESS_SEED', randomInt(2 ** 31)),
  deadlineMs: option('deadline-ms', 'STRESS_DEADLINE_MS', STRESS_DEFAULTS.deadlineMs),
  window: option('window', 'STRESS_WINDOW', STRESS_DEFAULTS.window),
  adapterOptions: adapterMode.options,
};

/**
 * The phases: handlers within the lock ttl (contention), then a fifth of the keys slower than
 * it (2 to 3 lock lifetimes), which only lease renewal keeps from running twice, then (on a
 * DynamoDB with transactions) fenced order writes while a tenth of the holders stall past
 * their lease. --keys sizes every phase; without it each phase has its own size.
 */
const allPhases = [
  ['contention', options, runStress, report],
  [
    'slow handlers',
    { ...options, ...SLOW_PHASE, ...(values.keys && { keys: options.keys }) },
    runStress,
    report,
  ],
  [
    'fenced orders',
    { ...options, ...FENCED_PHASE, ...(values.keys && { keys: options.keys }) },
    runFencedStress,
    reportFenced,
  ],
];
const phases = allPhases.filter((_, index) => only.includes(PHASE_NAMES[index]));

function report(phase, result, lockTtl) {
  const lease = result.leaseHealth;
  const rows = [
    ['phase', phase],
    ['backend', backend],
    ['adapter mode', mode],
    ['seed', result.seed],
    ['processes', result.processes],
    ['keys', result.keys],
    ['callers per key', result.callers],
    ['total calls', result.calls],
    ['executions (exec# items)', result.executions],
    ['handler runs', result.handlerRuns],
    ['idempotency records', result.records],
    ['duplicate executions', result.duplicates],
    ['mismatched keys', result.mismatches],
    ['failed callers', result.errors],
    ['  of which CONFLICT', result.conflicts],
    ['lock waits (lost claim)', result.waits],
    ['  on another process', result.crossProcessWaits],
    ['keys with a lock wait', result.contendedKeys],
    ['replays without a wait', result.replays],
    ['lease renewals', result.renewals],
    ['  per minute of handler time', (result.renewals / (result.handlerSeconds / 60)).toFixed(0)],
    ['leases lost', result.leasesLost],
    ['lease-bearing requests', lease.requests],
    ['  at risk (under 1/3 left)', lease.atRisk],
    ['  lapsed', lease.lapsed],
    [
      'largest latency / lease',
      `${lease.worstLatencyRatio.toFixed(3)} (${Math.round(lease.worstLatencyRatio * lockTtl)} ms of ${lockTtl} ms)`,
    ],
    ['DynamoDB requests', result.requests],
    ['requests per second', Math.round(result.requests / result.runSeconds)],
    [
      'CPU s: server / workers',
      `${result.serverCpuSeconds?.toFixed(1) ?? 'n/a'} / ${result.workerCpuSeconds.toFixed(1)}`,
    ],
    ['run seconds (after go)', result.runSeconds.toFixed(2)],
    ['elapsed seconds', result.elapsedSeconds.toFixed(2)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
  for (const sample of result.samples) console.error(`  ${sample}`);
  return violations(result);
}

function reportFenced(phase, result, lockTtl) {
  const lease = result.leaseHealth;
  const { stallMs, stallLockTtl } = FENCED_PHASE.fenced;
  const rows = [
    ['phase', phase],
    ['backend', backend],
    ['adapter mode', mode],
    ['seed', result.seed],
    ['processes', result.processes],
    ['keys', result.keys],
    [
      '  with a stalled holder',
      `${result.stallKeys} (stall ${stallMs} ms past a ${stallLockTtl} ms lease, renewal off)`,
    ],
    ['lock ttl of other holders', `${lockTtl} ms, renewal on`],
    ['callers per key', result.callers],
    ['total calls', result.calls],
    ['keys completed (answered)', result.keysCompleted],
    ['order items', result.orderItems],
    ['  committed by a stalled holder', result.stalledOrders],
    ['duplicate order items', result.duplicates],
    ['answered keys without order', result.completedWithoutOrder],
    ['orders nobody was answered', result.ordersWithoutAnswer],
    ['keys with differing answers', result.disagreements],
    ['acknowledged answers lost', result.lost],
    ['idempotency items', result.records],
    ['handler runs', result.handlerRuns],
    ['  stalled past the lease', result.stalledRuns],
    ['failed callers', result.failed],
    ['  lease-lost, stalled callers', result.leaseLostStalled],
    ['  lease-lost, other callers', result.leaseLostOther],
    ['  other CONFLICT (waiters)', result.conflicts],
    ['  other errors', result.otherErrors],
    ['  on keys without a stall', result.plainKeyFailures],
    ['leaseLost events', result.leaseLostEvents],
    ['lease renewals', result.renewals],
    ['leases found lapsed', lease.lapsed],
    [
      'largest latency / lease',
      `${lease.worstLatencyRatio.toFixed(3)} (of the ${lockTtl} ms and ${stallLockTtl} ms leases)`,
    ],
    [
      'slowest answer (ms)',
      Object.entries(result.slowestMs)
        .sort(([, a], [, b]) => b - a)
        .map(([name, ms]) => `${name.replace(/Command$/, '')} ${ms}`)
        .join(', '),
    ],
    ['DynamoDB requests', result.requests],
    ['requests per second', Math.round(result.requests / result.runSeconds)],
    ['CPU s: workers', result.workerCpuSeconds.toFixed(1)],
    ['run seconds (after go)', result.runSeconds.toFixed(2)],
    ['elapsed seconds', result.elapsedSeconds.toFixed(2)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
  for (const sample of result.samples) console.error(`  ${sample}`);
  return fencedViolations(result);
}

let server;
let failures = 0;
try {
  if (backend === 'dynamodb-local') {
    const { startDynamoDbLocal } = await import('../test/support/dynamoDbLocal.mjs');
    server = await startDynamoDbLocal();
  }
  for (const [phase, phaseOptions, runPhase, reportPhase] of phases) {
    if (runPhase === runFencedStress && backend === 'dynalite') {
      console.log(
        `stress: ${phase} skipped on dynalite: dynalite has no transactions (TransactWriteItems), ` +
          'which the fence needs; run with --backend dynamodb-local\n',
      );
      continue;
    }
    const lockTtl = phaseOptions.lockTtl ?? STRESS_DEFAULTS.lockTtl;
    console.error(
      `stress: ${phase} on ${backend}, seed ${phaseOptions.seed}, ${phaseOptions.processes} ` +
        `processes, ${phaseOptions.keys} keys, ${phaseOptions.callers} callers per key, ` +
        `lock ttl ${lockTtl} ms, deadline ${phaseOptions.deadlineMs} ms`,
    );
    const result = await runPhase({
      ...phaseOptions,
      ...(server && { endpoint: server.endpoint }),
    });
    const failed = reportPhase(phase, result, lockTtl);
    if (failed.length > 0) {
      failures += 1;
      console.error(`stress: ${phase} FAILED (seed ${result.seed}): ${failed.join('; ')}`);
    } else {
      console.log(`stress: ${phase} OK (seed ${result.seed})\n`);
    }
  }
} catch (error) {
  failures += 1;
  console.error(`stress: FAILED: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await server?.kill();
}
process.exit(failures === 0 ? 0 : 1);
