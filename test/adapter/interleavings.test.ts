import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenceErrorReason } from '../../src/index.js';
import { backend } from '../support/backend.js';
import {
  describeFenceRun,
  type FenceCaller,
  type FenceInstanceSpec,
  type FenceMode,
  type FenceOutcomes,
  type FenceScenario,
  fenceViolations,
  runFenceScenario,
  type Stall,
} from '../support/fenceInterleavings.js';
import {
  type Bench,
  type CoreScenario,
  codeOf,
  coreViolations,
  type DocumentedExceptions,
  type FleetMode,
  faultyCoreViolations,
  runCoreScenario,
  startBench,
} from '../support/interleavingRuns.js';
import {
  describeHistory,
  KNOWN_BUG_TAGS,
  type MethodCommand,
  type MethodScenario,
  methodViolations,
  runMethodScenario,
} from '../support/methodModel.js';
import type { FaultKind, FaultRule } from '../support/scheduledClient.js';

// Randomized interleavings: several adapter instances, each on its own DynamoDBClient, against
// the real backend of the run, with every request's send and answer (and every handler's start
// and end) ordered by fast-check's scheduler (test/support/scheduledClient.ts). Properties:
//   (a) the core's call sequence, in each mode and in a mixed fleet;
//   (b) the eight methods called directly, checked against a model (test/support/methodModel.ts);
//   (c) (a) with lost answers and throttles injected per request;
//   (e) (a) in fence scopes, the handler writing an order through the fence, with holders that
//       stall past short leases (DynamoDB Local only: dynalite has no transactions).
// A run replays exactly from its seed and path: a failure prints the command to rerun it.
// FC_SEED picks the seed (printed), FC_PATH a failing run to replay, FC_RUNS the runs per
// property; `npm run stress:interleavings` is the long run.

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const path = process.env.FC_PATH;
const numRuns = Number(process.env.FC_RUNS ?? 40);
console.log(`interleavings: FC_SEED=${seed} FC_RUNS=${numRuns} on ${backend}`);
/** Per property: generous, so that a long FC_RUNS is not cut short (a run takes 30-100 ms). */
const PROPERTY_TIMEOUT_MS = 30_000 + numRuns * 1_000;
/** Leases and waits of (a): 30 s of logical time (1 ms per task), never reached in a run. */
const LOCK_TIMEOUT_MS = 30_000;

let bench: Bench;
beforeAll(async () => {
  bench = await startBench();
});
afterAll(async () => {
  await bench?.close();
});

const strict = process.env.FC_STRICT === '1';
let knownBugRuns = 0;

const explored: { property: string; runs: number; tasks: number; ms: number }[] = [];
afterAll(() => {
  const runs = explored.reduce((sum, entry) => sum + entry.runs, 0);
  const tasks = explored.reduce((sum, entry) => sum + entry.tasks, 0);
  for (const entry of explored) {
    console.log(
      `  ${entry.property}: ${entry.runs} runs, ${entry.tasks} scheduled tasks, ${(entry.ms / 1000).toFixed(1)} s`,
    );
  }
  console.log(`interleavings explored: ${runs} runs × their scheduled tasks = ${tasks} tasks`);
  if (knownBugRuns > 0)
    console.log(`runs that hit a known adapter bug (KNOWN_BUG_TAGS): ${knownBugRuns}`);
});

async function check<Ts extends [unknown, ...unknown[]]>(
  property: string,
  prop: fc.IAsyncPropertyWithHooks<Ts>,
): Promise<void> {
  try {
    await fc.assert(prop, { seed, numRuns, endOnFailure: true, ...(path && { path }) });
  } catch (error) {
    const failedPath = /path: "([^"]*)"/.exec(String((error as Error).message))?.[1];
    const replay = `replay: FC_SEED=${seed} FC_PATH=${failedPath ?? '?'} npx vitest run test/adapter/interleavings.test.ts -t '${property}'`;
    console.log(replay);
    (error as Error).message = `${replay}\n${(error as Error).message}`;
    throw error;
  }
}

/** Counts one run of `property`: its scheduled tasks and its wall time. */
function tally(property: string, tasks: number, startedAt: number) {
  let entry = explored.find((e) => e.property === property);
  if (entry === undefined) {
    entry = { property, runs: 0, tasks: 0, ms: 0 };
    explored.push(entry);
  }
  entry.runs += 1;
  entry.tasks += tasks;
  entry.ms += performance.now() - startedAt;
  return entry;
}

const callersArb = (instances: number) =>
  fc.array(fc.record({ instance: fc.nat({ max: instances - 1 }), key: fc.nat({ max: 2 }) }), {
    minLength: 2,
    maxLength: 6,
  });

const fleets: { name: string; modes: fc.Arbitrary<FleetMode[]> }[] = [
  { name: 'default', modes: fc.integer({ min: 2, max: 3 }).map((n) => Array(n).fill('default')) },
  {
    name: 'claim-on-miss',
    modes: fc.integer({ min: 2, max: 3 }).map((n) => Array(n).fill('claim-on-miss')),
  },
  {
    name: 'local-cache',
    modes: fc.integer({ min: 2, max: 3 }).map((n) => Array(n).fill('local-cache')),
  },
  {
    name: 'mixed fleet',
    modes: fc.array(
      fc.constantFrom<FleetMode>(
        'default',
        'claim-on-miss',
        'local-cache',
        'claim-on-miss+local-cache',
      ),
      { minLength: 2, maxLength: 3 },
    ),
  },
];

let runCounter = 0;

describe('interleavings of the core sequence (a)', () => {
  for (const fleet of fleets) {
    const property = `core sequence, ${fleet.name}: one execution per key, one response, nothing locked`;
    it(
      property,
      async () => {
        const table = await bench.table(fleet.name.replace(/\W+/g, '-'));
        const scenarioArb: fc.Arbitrary<CoreScenario> = fleet.modes.chain((modes) =>
          fc.record({
            modes: fc.constant(modes),
            keys: fc.integer({ min: 1, max: 3 }),
            callers: callersArb(modes.length),
          }),
        );
        await check(
          property,
          fc.asyncProperty(fc.scheduler(), scenarioArb, async (s, scenario) => {
            const startedAt = performance.now();
            const run = await runCoreScenario(bench, s, scenario, {
              table,
              runId: `a${++runCounter}`,
              lockTimeout: LOCK_TIMEOUT_MS,
            });
            tally(property, run.released, startedAt);
            const problems = coreViolations(run);
            if (problems.length > 0) throw new Error(problems.join('\n'));
          }),
        );
      },
      PROPERTY_TIMEOUT_MS,
    );
  }
});

const commandArb: fc.Arbitrary<MethodCommand> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      method: fc.constantFrom(
        'get',
        'set',
        'delete',
        'acquireLock',
        'releaseLock',
        'waitForLock',
        'acquireLock',
        'get',
      ),
      key: fc.nat({ max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ method: fc.constantFrom('connect', 'disconnect') }) },
);

const methodScenarioArb: fc.Arbitrary<MethodScenario> = fc
  .array(
    fc.constantFrom<FleetMode>(
      'default',
      'claim-on-miss',
      'local-cache',
      'claim-on-miss+local-cache',
    ),
    { minLength: 2, maxLength: 3 },
  )
  .chain((modes) =>
    fc.record({
      modes: fc.constant(modes),
      keys: fc.constant(2),
      actors: fc.array(
        fc.record({
          instance: fc.nat({ max: modes.length - 1 }),
          commands: fc.array(commandArb, { minLength: 1, maxLength: 6 }),
        }),
        { minLength: 2, maxLength: 4 },
      ),
    }),
  );

describe('interleavings of direct method calls (b)', () => {
  const property =
    'eight methods: one holder at a time, no record lost or replaced by an older one, nothing locked once released';
  it(
    property,
    async () => {
      const table = await bench.table('methods');
      const excused = {
        claimReceipt: 0,
        heldByOwnInstance: 0,
        waitReceipt: 0,
        localCache: 0,
        lostVerdict: 0,
        fencedSet: 0,
      };
      await check(
        property,
        fc.asyncProperty(fc.scheduler(), methodScenarioArb, async (s, scenario) => {
          const startedAt = performance.now();
          const run = await runMethodScenario(bench, s, scenario, {
            table,
            runId: `b${++runCounter}`,
          });
          const entry = tally(property, run.released, startedAt);
          const { problems, exceptionsUsed } = methodViolations(run);
          for (const name of Object.keys(excused) as (keyof typeof excused)[]) {
            excused[name] += exceptionsUsed[name];
          }
          // TEMPORARY, until its fix lands in src/: the adapter bug still open (the it.fails
          // test of interleavingRegressions.test.ts, tagged in KNOWN_BUG_TAGS) is counted, not
          // failed on. FC_STRICT=1 fails on it too. Remove this allowance with that it.fails.
          const known = strict
            ? []
            : problems.filter((p) => KNOWN_BUG_TAGS.some((tag) => p.startsWith(tag)));
          if (known.length > 0) {
            knownBugRuns += 1;
            console.log(
              `known bug hit (seed ${seed}, run ${entry.runs}):\n  ${known.join('\n  ')}`,
            );
          }
          const unknown = problems.filter((p) => !known.includes(p));
          if (unknown.length > 0) {
            throw new Error(`${unknown.join('\n')}\nhistory:\n${describeHistory(run)}`);
          }
        }),
      );
      console.log(`gets explained by a documented exception: ${JSON.stringify(excused)}`);
    },
    PROPERTY_TIMEOUT_MS,
  );
});

/**
 * With faults, a caller may wait on a lock that is left to lapse (a release that failed): its
 * wait ends after this many logical ms (1 per task), well past any live holder's progress.
 */
const FAULTY_LOCK_TIMEOUT_MS = 400;

// A fault hits the n-th send of a request kind (or of any): aimed at kinds, faults land on the
// rare requests too (a record put, a release), where the documented exceptions live.
const faultArb: fc.Arbitrary<FaultRule> = fc.record({
  target: fc.constantFrom('*', 'GetItem', 'PutItem(lock)', 'PutItem(record)', 'DeleteItem'),
  nth: fc.nat({ max: 3 }),
  kind: fc.constantFrom<FaultKind>('lose-answer', 'lose-answer', 'throttle', 'throttle-out'),
});

const anyFleetArb: fc.Arbitrary<FleetMode[]> = fc.oneof(...fleets.map((fleet) => fleet.modes));

describe('interleavings of the core sequence with injected faults (c)', () => {
  const property =
    'core sequence with lost answers and throttles: one response per key, no wrong response, only documented failures';
  it(
    property,
    async () => {
      const table = await bench.table('faults');
      const totals: DocumentedExceptions = {
        failedSets: 0,
        reruns: 0,
        storageErrors: 0,
        conflicts: 0,
        lockTimeouts: 0,
        strandedLocks: 0,
      };
      let injected = 0;
      const scenarioArb: fc.Arbitrary<CoreScenario> = anyFleetArb.chain((modes) =>
        fc.record({
          modes: fc.constant(modes),
          keys: fc.integer({ min: 1, max: 2 }),
          callers: callersArb(modes.length),
          faults: fc.array(faultArb, { minLength: 1, maxLength: 4 }),
        }),
      );
      await check(
        property,
        fc.asyncProperty(fc.scheduler(), scenarioArb, async (s, scenario) => {
          const startedAt = performance.now();
          const run = await runCoreScenario(bench, s, scenario, {
            table,
            runId: `c${++runCounter}`,
            lockTimeout: FAULTY_LOCK_TIMEOUT_MS,
          });
          tally(property, run.released, startedAt);
          injected += run.faults.length;
          const { problems, exceptions } = faultyCoreViolations(run);
          for (const name of Object.keys(totals) as (keyof DocumentedExceptions)[]) {
            totals[name] += exceptions[name];
          }
          if (problems.length > 0) throw new Error(problems.join('\n'));
        }),
      );
      console.log(`faults injected: ${injected}; documented exceptions: ${JSON.stringify(totals)}`);
    },
    PROPERTY_TIMEOUT_MS,
  );
});

const fenceInstanceArb: fc.Arbitrary<FenceInstanceSpec> = fc.record({
  mode: fc.constantFrom<FenceMode>('default', 'claim-on-miss'),
  slow: fc.boolean(),
});

const fenceScenarioArb: fc.Arbitrary<FenceScenario> = fc
  .array(fenceInstanceArb, { minLength: 2, maxLength: 3 })
  // One slow instance at least: takeovers need a lease that lapses.
  .map((instances) =>
    instances.some((spec) => spec.slow)
      ? instances
      : instances.map((spec, index) => (index === 0 ? { ...spec, slow: true } : spec)),
  )
  .chain((instances) =>
    fc.record({
      instances: fc.constant(instances),
      keys: fc.integer({ min: 1, max: 2 }),
      callers: fc.array(
        fc.record<FenceCaller>({
          instance: fc.nat({ max: instances.length - 1 }),
          key: fc.nat({ max: 1 }),
          stall: fc.constantFrom<Stall>('none', 'before-fence', 'after-fence'),
          fenceAt: fc.constantFrom<FenceCaller['fenceAt']>('write', 'start'),
          withResponse: fc.boolean(),
          retries: fc.nat({ max: 1 }),
        }),
        { minLength: 2, maxLength: 5 },
      ),
    }),
  );

describe.runIf(backend !== 'dynalite')(
  'interleavings of the core sequence with fenced order writes (e): DynamoDB Local and DynamoDB only, dynalite has no TransactWriteItems',
  () => {
    const property =
      'core sequence with fenced order writes: one order per key, one response, stalled holders refused (lease-lost), nothing locked but marks';
    it(
      property,
      async () => {
        const table = await bench.table('fence');
        const totals: FenceOutcomes = {
          leaseLost: 0,
          waiterConflicts: 0,
          takeovers: 0,
          commits: 0,
          commitsWithResponse: 0,
          marksLeft: 0,
          keysWithoutOrder: 0,
        };
        await check(
          property,
          fc.asyncProperty(fc.scheduler(), fenceScenarioArb, async (s, scenario) => {
            const startedAt = performance.now();
            const run = await runFenceScenario(bench, s, scenario, {
              table,
              runId: `e${++runCounter}`,
            });
            tally(property, run.released, startedAt);
            const { problems, outcomes } = fenceViolations(run);
            for (const name of Object.keys(totals) as (keyof FenceOutcomes)[]) {
              totals[name] += outcomes[name];
            }
            if (problems.length > 0) {
              throw new Error(`${problems.join('\n')}\nrun:\n${describeFenceRun(run, s.report())}`);
            }
          }),
        );
        console.log(`fence outcomes: ${JSON.stringify(totals)}`);
      },
      PROPERTY_TIMEOUT_MS,
    );

    it('replays: one seed gives the same interleavings, stalls, fenced writes and outcomes', async () => {
      const table = await bench.table('fence-replay');
      const passes: string[][] = [[], []];
      for (const trace of passes) {
        await fc.assert(
          fc.asyncProperty(fc.scheduler(), fenceScenarioArb, async (s, scenario) => {
            const runId = `r${++runCounter}`;
            const run = await runFenceScenario(bench, s, scenario, { table, runId });
            const outcomes = run.callers.flatMap(({ attempts }) =>
              attempts.map(({ result }) =>
                result.ok
                  ? JSON.stringify(result.response)
                  : `${codeOf(result.error)} ${fenceErrorReason(result.error) ?? ''}`,
              ),
            );
            const orders = [...run.orders.values()].flat().map((order) => `${order.by}#${order.n}`);
            const tasks = s.report().map((task) => `${task.label}:${task.status}`);
            trace.push([...tasks, ...outcomes, ...orders].join('|').replaceAll(runId, 'R'));
          }),
          { seed, numRuns: 4 },
        );
      }
      expect(passes[1]).toEqual(passes[0]);
    });
  },
);

describe('the harness', () => {
  it('replays: one seed gives the same interleavings, faults and outcomes', async () => {
    const table = await bench.table('replay');
    const scenarioArb: fc.Arbitrary<CoreScenario> = anyFleetArb.chain((modes) =>
      fc.record({
        modes: fc.constant(modes),
        keys: fc.integer({ min: 1, max: 2 }),
        callers: callersArb(modes.length),
        faults: fc.array(faultArb, { maxLength: 3 }),
      }),
    );
    const passes: string[][] = [[], []];
    for (const trace of passes) {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), scenarioArb, async (s, scenario) => {
          const runId = `r${++runCounter}`;
          const run = await runCoreScenario(bench, s, scenario, {
            table,
            runId,
            lockTimeout: FAULTY_LOCK_TIMEOUT_MS,
          });
          const outcomes = run.callers.map(({ result }) =>
            result.ok ? JSON.stringify(result.response) : codeOf(result.error),
          );
          const tasks = s.report().map((task) => `${task.label}:${task.status}`);
          trace.push(
            [...tasks, ...outcomes, JSON.stringify(run.faults)].join('|').replaceAll(runId, 'R'),
          );
        }),
        { seed, numRuns: 6 },
      );
    }
    expect(passes[1]).toEqual(passes[0]);
  });
});
