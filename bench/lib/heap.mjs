import { ElectroDynamoAdapter } from '../../dist/index.js';
import { CacheKeyBaselineAdapter } from '../contenders/cacheKeyBaseline.mjs';
import { CLAIM_ON_MISS } from './cpu.mjs';
import { flowsFor } from './flows.mjs';

/**
 * Heap after many first executions on distinct keys, each a full core sequence (claim, store,
 * release). The clients answer in memory without the SDK's HTTP stack, so the flows are cheap
 * enough to run 100k times and any state the adapter keeps per key would show as growth.
 */
/** The heap row of ElectroDynamoAdapter flows whose handler throws. */
export const THROWING = 'ElectroDynamoAdapter, handler throws';

const answerNothing = { send: async () => ({}), config: { translateConfig: {} } };

function heapMb() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / (1024 * 1024);
}

async function run(flow, count) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const key = `heap-${++next}`;
        await flow(key);
      }
    }),
  );
}

export async function measureHeap(flows) {
  if (typeof globalThis.gc !== 'function') return new Map();
  const contenders = [
    [
      'ElectroDynamoAdapter',
      new ElectroDynamoAdapter({ client: answerNothing, table: 'app-table', prefix: 'idem' }),
    ],
    ['cacheKey baseline', new CacheKeyBaselineAdapter(answerNothing, 'idempotency-cache')],
    [
      CLAIM_ON_MISS,
      new ElectroDynamoAdapter({
        client: answerNothing,
        table: 'app-table',
        prefix: 'idem',
        claimOnMiss: true,
      }),
    ],
  ];
  const results = new Map();
  const throwing = new ElectroDynamoAdapter({
    client: answerNothing,
    table: 'app-table',
    prefix: 'idem',
  });
  const runs = contenders.map(([name, adapter]) => [
    name,
    flowsFor({ kind: 'adapter', adapter }).first,
  ]);
  // Handlers that throw: the core stores the error and releases, so no lock, renewal timer or
  // per-key entry may outlive these flows either.
  runs.push([THROWING, flowsFor({ kind: 'adapter', adapter: throwing }).failing]);
  for (const [name, flow] of runs) {
    await run(flow, 2_000);
    const startMb = heapMb();
    await run(flow, flows);
    const endMb = heapMb();
    results.set(name, { startMb, endMb, growthKb: (endMb - startMb) * 1024 });
  }
  return results;
}
