import { isDeepStrictEqual } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Scheduler } from 'fast-check';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import type { IdempotencyRecord, StorageAdapter } from '../../src/types.js';
import { ADAPTER_MODES } from './adapterModes.mjs';
import { createClient, createTable, startBackend } from './backend.js';
import { executeLikeCore, ReferenceConflictError } from './coreReference.mjs';
import { scaledRetryStrategy } from './faultProxy.js';
import {
  type FaultRule,
  type InjectedFault,
  Interleaver,
  type SentRequest,
} from './scheduledClient.js';

// The bench, the fleets and the core-sequence runs of the interleaving properties
// (test/adapter/interleavings.test.ts), and the checks of properties (a) and (c).

export const PREFIX = 'idem';

const optionsOf = (mode: 'default' | 'claim-on-miss') =>
  ADAPTER_MODES.find((entry) => entry.mode === mode)?.options ?? {};
const LOCAL_CACHE = { localCache: { maxEntries: 100 } } as const;

export type FleetMode = 'default' | 'claim-on-miss' | 'local-cache' | 'claim-on-miss+local-cache';

/** What an instance of a fleet runs with. Modes of one fleet may differ (a rolling deploy). */
export const FLEET_MODES: Record<FleetMode, Partial<ElectroDynamoAdapterOptions>> = {
  default: optionsOf('default'),
  'claim-on-miss': optionsOf('claim-on-miss'),
  'local-cache': LOCAL_CACHE,
  'claim-on-miss+local-cache': { ...optionsOf('claim-on-miss'), ...LOCAL_CACHE },
};

/** Leases long enough never to lapse within a run (the clock is logical: 1 ms per task). */
export const LONG_LEASE_MS = 30_000;
/** Attempts per request: a throttle that outlasts them reaches the caller. */
const MAX_ATTEMPTS = 3;
/** The SDK's backoff divided by this: its throttling base of 1 s becomes 1 ms. */
const BACKOFF_SPEEDUP = 1_000;

/** One DynamoDB for a test file (dynalite in-process, or the run's server), tables on demand. */
export async function startBench() {
  const dynamo = await startBackend();
  const admin = createClient(dynamo.endpoint);
  const documents = DynamoDBDocumentClient.from(admin);
  let tables = 0;
  return {
    endpoint: dynamo.endpoint,
    admin,
    /** A fresh pk/sk table for one property. */
    async table(name: string): Promise<string> {
      const table = `interleavings-${name}-${++tables}`;
      await createTable(admin, table);
      return table;
    },
    /** Every item of the table whose cache key is one of `keys` (a consistent scan). */
    async itemsOf(table: string, keys: readonly string[]): Promise<Record<string, unknown>[]> {
      const wanted = new Set(keys);
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await documents.send(
          new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        for (const item of page.Items ?? []) {
          if (wanted.has(String(item.cacheKey))) items.push(item);
        }
        start = page.LastEvaluatedKey;
      } while (start !== undefined);
      return items;
    },
    /** Deletes the items, so that the table stays small however many runs a property makes. */
    async remove(table: string, items: readonly Record<string, unknown>[]): Promise<void> {
      for (const item of items) {
        await documents.send(
          new DeleteCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk } }),
        );
      }
    },
    /** A plain adapter on the admin client, outside any run: reads what a run left. */
    reader(table: string): ElectroDynamoAdapter {
      return new ElectroDynamoAdapter({ client: admin, table, prefix: PREFIX });
    },
    async close(): Promise<void> {
      admin.destroy();
      await dynamo.close();
    },
  };
}
export type Bench = Awaited<ReturnType<typeof startBench>>;

export interface FleetInstance {
  readonly index: number;
  readonly mode: FleetMode;
  readonly client: DynamoDBClient;
  readonly adapter: ElectroDynamoAdapter;
}

/**
 * One adapter per mode, each on a client of its own whose traffic `lab` schedules, with quick
 * SDK retries (3 attempts, backoff divided by 1,000).
 */
export function createFleet(
  bench: Bench,
  table: string,
  lab: Interleaver,
  modes: readonly FleetMode[],
  /** Options of instance `index` over its mode's (property (e): short leases, no renewal). */
  optionsOf: (index: number) => Partial<ElectroDynamoAdapterOptions> = () => ({}),
): { instances: FleetInstance[]; close(): Promise<void> } {
  const instances = modes.map((mode, index) => {
    const client = createClient(bench.endpoint, {
      retryStrategy: scaledRetryStrategy(MAX_ATTEMPTS, BACKOFF_SPEEDUP),
    });
    lab.attach(client, index);
    const adapter = new ElectroDynamoAdapter({
      client,
      table,
      prefix: PREFIX,
      ...FLEET_MODES[mode],
      ...optionsOf(index),
    });
    return { index, mode, client, adapter };
  });
  return {
    instances,
    async close() {
      for (const { adapter, client } of instances) {
        // Stops lease renewal: no request of this run may land in the next one.
        await adapter.disconnect();
        client.destroy();
      }
    },
  };
}

/** One adapter method call as the caller saw it. */
export interface AdapterCall {
  readonly actor: string;
  readonly instance: number;
  readonly method: keyof StorageAdapter;
  readonly key: string | undefined;
  /** Ordering of call starts and ends across the run. */
  readonly start: number;
  end: number;
  /** Logical time at the start and the end. */
  readonly startMs: number;
  endMs: number;
  /** Tasks the actor waited for during the call: 0 means the call sent nothing. */
  steps: number;
  /** The sends of the run (indexes into `Interleaver.sent`) made before the call began. */
  readonly sentBefore: number;
  /** ... and once it had ended: the call's own sends are among [sentBefore, sentAfter). */
  sentAfter: number;
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
}

/** Wraps `adapter` so that each call's start, end and outcome lands in `log`. */
export function recordingAdapter(
  adapter: StorageAdapter,
  instance: number,
  lab: Interleaver,
  log: AdapterCall[],
  clock: { seq: number },
): StorageAdapter {
  const record =
    <A extends unknown[], R>(method: keyof StorageAdapter, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const entry: AdapterCall = {
        actor: lab.currentActor() ?? '?',
        instance,
        method,
        key: typeof args[0] === 'string' ? args[0] : undefined,
        start: clock.seq++,
        end: -1,
        startMs: Date.now(),
        endMs: -1,
        steps: lab.stepsOfCurrentActor(),
        sentBefore: lab.sent.length,
        sentAfter: -1,
        outcome: undefined,
      };
      log.push(entry);
      try {
        const value = await call(...args);
        entry.outcome = { ok: true, value };
        return value;
      } catch (error) {
        entry.outcome = { ok: false, error };
        throw error;
      } finally {
        entry.end = clock.seq++;
        entry.endMs = Date.now();
        entry.steps = lab.stepsOfCurrentActor() - entry.steps;
        entry.sentAfter = lab.sent.length;
      }
    };
  return {
    connect: record('connect', () => adapter.connect()),
    disconnect: record('disconnect', () => adapter.disconnect()),
    get: record('get', (key: string) => adapter.get(key)),
    set: record('set', (key: string, value: IdempotencyRecord) => adapter.set(key, value)),
    delete: record('delete', (key: string) => adapter.delete(key)),
    acquireLock: record('acquireLock', (key: string, ttl: number) => adapter.acquireLock(key, ttl)),
    releaseLock: record('releaseLock', (key: string) => adapter.releaseLock(key)),
    waitForLock: record('waitForLock', (key: string, timeout: number, poll: number) =>
      adapter.waitForLock(key, timeout, poll),
    ),
  };
}

export function codeOf(error: unknown): string {
  if (error instanceof ReferenceConflictError) return 'CONFLICT';
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : `not an IdempotencyError: ${String(error)}`;
}

// --- The core's sequence (properties a and c) ---

export interface CoreCaller {
  readonly instance: number;
  readonly key: number;
}

export interface CoreScenario {
  /** One mode per instance. */
  readonly modes: readonly FleetMode[];
  readonly keys: number;
  readonly callers: readonly CoreCaller[];
  /** Which sends fail, and how. */
  readonly faults?: readonly FaultRule[];
}

export interface Execution {
  readonly key: string;
  readonly n: number;
  readonly by: string;
  readonly response: { key: string; execution: number; by: string };
}

export interface CallerOutcome {
  readonly name: string;
  readonly instance: number;
  readonly key: string;
  readonly result: { ok: true; response: unknown } | { ok: false; error: unknown };
}

export interface CoreRun {
  readonly scenario: CoreScenario;
  readonly keys: readonly string[];
  readonly callers: readonly CallerOutcome[];
  readonly executions: ReadonlyMap<string, readonly Execution[]>;
  readonly calls: readonly AdapterCall[];
  readonly faults: readonly InjectedFault[];
  readonly sent: readonly SentRequest[];
  /** What the table holds for the run's keys once quiet. */
  readonly items: readonly Record<string, unknown>[];
  /** The record a plain `get` reads per key once quiet. */
  readonly stored: ReadonlyMap<string, IdempotencyRecord | null>;
  readonly released: number;
  readonly unscheduled: number;
}

export interface CoreRunOptions {
  readonly table: string;
  readonly runId: string;
  readonly lockTimeout: number;
  /** Wraps each instance's adapter (a fake bug, for proving that the checks can fail). */
  readonly wrap?: (adapter: StorageAdapter) => StorageAdapter;
}

/**
 * Runs each caller through the core's call sequence (`executeLikeCore`) on its instance, in
 * the interleaving `s` chooses, with long leases and a 1 ms poll. The handler waits for a task
 * at its start and at its end and returns `{ key, execution, by }`.
 */
export async function runCoreScenario(
  bench: Bench,
  s: Scheduler,
  scenario: CoreScenario,
  { table, runId, lockTimeout, wrap = (adapter) => adapter }: CoreRunOptions,
): Promise<CoreRun> {
  const lab = new Interleaver(s, { faults: scenario.faults ?? [] });
  const fleet = createFleet(bench, table, lab, scenario.modes);
  const keys = Array.from({ length: scenario.keys }, (_, k) => `${runId}k${k}`);
  const executions = new Map<string, Execution[]>(keys.map((key) => [key, []]));
  const calls: AdapterCall[] = [];
  const seq = { seq: 0 };
  const restoreClock = lab.useLogicalClock();
  let callers: CallerOutcome[];
  try {
    const work = scenario.callers.map(({ instance: i, key: k }, j): Promise<CallerOutcome> => {
      const name = `c${j}`;
      const instance = i % fleet.instances.length;
      const key = keys[k % keys.length] as string;
      const adapter = recordingAdapter(
        wrap((fleet.instances[instance] as FleetInstance).adapter),
        instance,
        lab,
        calls,
        seq,
      );
      const handler = async () => {
        await lab.step(`i${instance} handler-start ${key}`);
        const ran = executions.get(key) as Execution[];
        const response = { key, execution: ran.length + 1, by: name };
        ran.push({ key, n: response.execution, by: name, response });
        await lab.step(`i${instance} handler-end ${key}`);
        return response;
      };
      return lab
        .spawn(name, () =>
          executeLikeCore(adapter, key, handler, {
            lockTtl: LONG_LEASE_MS,
            lockTimeout,
            lockPollInterval: 1,
          }),
        )
        .then(
          (response) => ({ name, instance, key, result: { ok: true as const, response } }),
          (error: unknown) => ({ name, instance, key, result: { ok: false as const, error } }),
        );
    });
    const settled = Promise.all(work);
    await lab.drive(settled);
    callers = await settled;
  } finally {
    lab.close();
    restoreClock();
    await fleet.close();
  }
  const items = await bench.itemsOf(table, keys);
  const reader = bench.reader(table);
  const stored = new Map<string, IdempotencyRecord | null>();
  for (const key of keys) stored.set(key, await reader.get(key));
  await bench.remove(table, items);
  return {
    scenario,
    keys,
    callers,
    executions,
    calls,
    faults: lab.faults,
    sent: lab.sent,
    items,
    stored,
    released: lab.released,
    unscheduled: lab.unscheduled,
  };
}

const isLockItem = (item: Record<string, unknown>) => String(item.__edb_e__).endsWith('Lock');

/**
 * Property (a), no faults: per key the handler ran exactly once, every caller got its response,
 * nothing is locked once quiet, and the stored record is that response.
 */
export function coreViolations(run: CoreRun): string[] {
  const problems: string[] = [];
  if (run.unscheduled !== 0) problems.push(`${run.unscheduled} requests escaped the scheduler`);
  for (const caller of run.callers) {
    if (!caller.result.ok) {
      problems.push(`${caller.name} on ${caller.key} failed: ${codeOf(caller.result.error)}`);
    }
  }
  for (const key of run.keys) {
    const callers = run.callers.filter((caller) => caller.key === key);
    const ran = run.executions.get(key) ?? [];
    if (callers.length === 0) {
      if (ran.length !== 0) problems.push(`${key}: ran with no caller`);
      continue;
    }
    if (ran.length !== 1) {
      problems.push(`${key}: handler ran ${ran.length} times (by ${ran.map((e) => e.by)})`);
    }
    const expected = ran[0]?.response;
    for (const caller of callers) {
      if (caller.result.ok && !isDeepStrictEqual(caller.result.response, expected)) {
        problems.push(
          `${key}: ${caller.name} got ${JSON.stringify(caller.result.response)}, expected ${JSON.stringify(expected)}`,
        );
      }
    }
    const stored = run.stored.get(key);
    if (!isDeepStrictEqual(stored?.response, expected)) {
      problems.push(
        `${key}: stored ${JSON.stringify(stored?.response)}, expected ${JSON.stringify(expected)}`,
      );
    }
  }
  for (const item of run.items.filter(isLockItem)) {
    problems.push(`${String(item.cacheKey)} still locked once quiet (owner ${String(item.owner)})`);
  }
  return problems;
}

/** The calls of one actor on one key, in order. */
const callsOf = (run: CoreRun, actor: string, key: string) =>
  run.calls.filter((call) => call.actor === actor && call.key === key);
const failed = (call: AdapterCall) => call.outcome !== undefined && !call.outcome.ok;

/** What property (c) counts: the documented exceptions that happened in a run. */
export interface DocumentedExceptions {
  /** A `set` after the handler ran failed: the caller got STORAGE_ERROR. */
  failedSets: number;
  /** ...after which the handler ran again (a retry of the same key). */
  reruns: number;
  /** Callers that got STORAGE_ERROR. */
  storageErrors: number;
  /** Callers that got CONFLICT: they waited on a holder that stored nothing. */
  conflicts: number;
  /** Callers that got LOCK_TIMEOUT: they waited on a lock left to lapse. */
  lockTimeouts: number;
  /** Locks left once quiet by a release that failed or a claim whose answers were all lost. */
  strandedLocks: number;
}

/**
 * Property (c), with injected faults. What may weaken, and only as README "Guarantees" says:
 * - a `set` that fails after the handler ran leaves the caller with STORAGE_ERROR; the core
 *   then releases the lock, so a later caller of the key may run the handler again. So: a key's
 *   handler runs again only after every earlier execution's `set` failed;
 * - callers may get STORAGE_ERROR, but only where a fault hit one of their own requests (a
 *   throttle that outlasted the SDK's retries, or a write whose every answer was lost);
 * - a caller that waited gets CONFLICT when the holder failed to store (the core's rule), and
 *   LOCK_TIMEOUT only while a lock left to lapse holds the key;
 * - a lock may be left once quiet only by a release that failed (it lapses, unrenewed), or by a
 *   claim that committed but whose caller got an error (every answer lost).
 * What does not weaken: a caller that got a response got the response of an execution of its
 * key, all such callers of a key got the same one, and that one is what the key stores.
 */
export function faultyCoreViolations(run: CoreRun): {
  problems: string[];
  exceptions: DocumentedExceptions;
} {
  const problems: string[] = [];
  const exceptions: DocumentedExceptions = {
    failedSets: 0,
    reruns: 0,
    storageErrors: 0,
    conflicts: 0,
    lockTimeouts: 0,
    strandedLocks: 0,
  };
  if (run.unscheduled !== 0) problems.push(`${run.unscheduled} requests escaped the scheduler`);
  const faultedActors = new Set(run.faults.map((fault) => fault.actor));
  const strandedKeys = new Set<string>();
  for (const item of run.items.filter(isLockItem)) {
    // Who wrote this lock, and did that caller see a documented failure?
    const writer = run.sent.find((sent) => sent.owner === item.owner);
    const key = String(item.cacheKey);
    const writerCalls = writer === undefined ? [] : callsOf(run, writer.actor, key);
    const releaseFailed = writerCalls.some((call) => call.method === 'releaseLock' && failed(call));
    const claimFailed = writerCalls.some(
      (call) => (call.method === 'acquireLock' || call.method === 'get') && failed(call),
    );
    if (releaseFailed || claimFailed) {
      exceptions.strandedLocks += 1;
      strandedKeys.add(key);
    } else {
      problems.push(
        `${key} still locked once quiet by ${writer?.actor ?? 'nobody known'}, whose release and claim did not fail`,
      );
    }
  }
  for (const key of run.keys) {
    const callers = run.callers.filter((caller) => caller.key === key);
    const ran = run.executions.get(key) ?? [];
    const responses = ran.map((execution) => execution.response);
    // Each execution but the last must have failed to store before the next one ran.
    for (const [index, execution] of ran.entries()) {
      const sets = callsOf(run, execution.by, key).filter((call) => call.method === 'set');
      const setFailed = sets.length > 0 && sets.every(failed);
      if (setFailed) exceptions.failedSets += 1;
      if (index === ran.length - 1) continue;
      exceptions.reruns += 1;
      if (!setFailed) {
        problems.push(
          `${key}: handler ran again (by ${ran[index + 1]?.by}) although ${execution.by}'s set did not fail`,
        );
      }
    }
    const received = callers.flatMap((caller) =>
      caller.result.ok ? [{ caller, response: caller.result.response }] : [],
    );
    for (const { caller, response } of received) {
      if (!responses.some((known) => isDeepStrictEqual(known, response))) {
        problems.push(
          `${key}: ${caller.name} got a response no execution of the key made: ${JSON.stringify(response)}`,
        );
      }
      if (!isDeepStrictEqual(response, received[0]?.response)) {
        problems.push(
          `${key}: ${caller.name} got ${JSON.stringify(response)} but ${received[0]?.caller.name} got ${JSON.stringify(received[0]?.response)}`,
        );
      }
    }
    const stored = run.stored.get(key) ?? null;
    if (stored !== null && !responses.some((known) => isDeepStrictEqual(known, stored.response))) {
      problems.push(
        `${key}: stores a response no execution made: ${JSON.stringify(stored.response)}`,
      );
    }
    if (received.length > 0 && !isDeepStrictEqual(stored?.response, received[0]?.response)) {
      problems.push(
        `${key}: callers got ${JSON.stringify(received[0]?.response)} but the key stores ${JSON.stringify(stored?.response)}`,
      );
    }
    const holderFailed = ran.some((execution) => {
      const sets = callsOf(run, execution.by, key).filter((call) => call.method === 'set');
      return sets.some(failed);
    });
    for (const caller of callers) {
      if (caller.result.ok) continue;
      const code = codeOf(caller.result.error);
      if (code === 'STORAGE_ERROR') {
        exceptions.storageErrors += 1;
        if (!faultedActors.has(caller.name)) {
          problems.push(`${key}: ${caller.name} got STORAGE_ERROR with no fault on its requests`);
        }
      } else if (code === 'CONFLICT') {
        exceptions.conflicts += 1;
        if (!holderFailed && !strandedKeys.has(key)) {
          problems.push(`${key}: ${caller.name} got CONFLICT although no holder failed to store`);
        }
      } else if (code === 'LOCK_TIMEOUT') {
        exceptions.lockTimeouts += 1;
        if (!strandedKeys.has(key)) {
          problems.push(`${key}: ${caller.name} got LOCK_TIMEOUT with no lock left to lapse`);
        }
      } else {
        problems.push(`${key}: ${caller.name} failed with ${code}`);
      }
    }
  }
  return { problems, exceptions };
}
