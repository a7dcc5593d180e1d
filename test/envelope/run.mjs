// npm run envelope: where leases start to lapse as request latency grows against lockTtl (see
// leaseEnvelope.envelope.ts). Runs the experiment through its own vitest config, which can load
// the TypeScript fault proxy and adapter, and exits with vitest's status.
//
//   npm run envelope -- [--backend dynalite|dynamodb-local] [--hold answer|request]
//                       [--ttls 1000,3000] [--ratios 0.05,0.1,...] [--instances 4]
//                       [--slow-instances 4] [--keys 16] [--callers 4] [--seed N]
//                       [--budget-ms 330000]
//   (or ENVELOPE_BACKEND, ENVELOPE_HOLD, ENVELOPE_TTLS, ENVELOPE_RATIOS, ENVELOPE_INSTANCES,
//   ENVELOPE_SLOW_INSTANCES, ENVELOPE_KEYS, ENVELOPE_CALLERS, ENVELOPE_SEED, ENVELOPE_BUDGET_MS)

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const FLAGS = [
  'backend',
  'hold',
  'ttls',
  'ratios',
  'instances',
  'slow-instances',
  'keys',
  'callers',
  'seed',
  'budget-ms',
];
const { values } = parseArgs({
  options: Object.fromEntries(FLAGS.map((flag) => [flag, { type: 'string' }])),
});

const env = { ...process.env };
for (const [flag, value] of Object.entries(values)) {
  env[`ENVELOPE_${flag.toUpperCase().replaceAll('-', '_')}`] = value;
}
const backend = env.ENVELOPE_BACKEND || 'dynalite';
if (!['dynalite', 'dynamodb-local'].includes(backend)) {
  console.error(
    `--backend / ENVELOPE_BACKEND must be dynalite or dynamodb-local (got "${backend}")`,
  );
  process.exit(2);
}
env.ENVELOPE_BACKEND = backend;

const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
const config = fileURLToPath(new URL('./vitest.config.ts', import.meta.url));
const child = spawn(process.execPath, [vitest, 'run', '--config', config], {
  env,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
