import fc from 'fast-check';
import { afterAll, beforeAll, it } from 'vitest';
import { describeFenceRun, fenceViolations, runFenceScenario } from '../support/fenceInterleavings.js';
import { type Bench, startBench } from '../support/interleavingRuns.js';

let bench: Bench;
beforeAll(async () => { bench = await startBench(); });
afterAll(async () => { await bench?.close(); });

it('debug', async () => {
  const table = await bench.table('dbg');
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), async (s) => {
      const run = await runFenceScenario(bench, s, {
        instances: [{ mode: 'default', slow: true }, { mode: 'default', slow: false }],
        keys: 1,
        callers: [
          { instance: 0, key: 0, stall: 'before-fence', fenceAt: 'write', withResponse: false, retries: 0 },
          { instance: 1, key: 0, stall: 'none', fenceAt: 'write', withResponse: false, retries: 1 },
        ],
      }, { table, runId: `d${++n}` });
      const { problems, outcomes } = fenceViolations(run);
      if (outcomes.takeovers || problems.length) console.log(JSON.stringify(outcomes), problems, '\n' + describeFenceRun(run, s.report()));
    }),
    { seed: 1, numRuns: 30 },
  );
}, 60_000);
