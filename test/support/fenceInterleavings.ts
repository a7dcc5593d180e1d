import { isDeepStrictEqual } from 'node:util';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Scheduler } from 'fast-check';
import { currentFence, type Fence, fenceErrorReason, runInFenceScope } from '../../src/index.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import type { IdempotencyRecord } from '../../src/types.js';
import { executeLikeCore, ReferenceConflictError } from './coreReference.mjs';
import {
  type AdapterCall,
  type Bench,
  codeOf,
  createFleet,
  type FleetInstance,
  LONG_LEASE_MS,
  PREFIX,
  recordingAdapter,
} from './interleavingRuns.js';
import { defaultKeyOf, Interleaver, type SentRequest } from './scheduledClient.js';

/**
 * Property (e): the core's call sequence (as in (a)) inside `runInFenceScope`, with a handler
 * that writes one order item through the fence (`fence.send`, a TransactWriteItems on the
 * instance's own scheduled client, so the transaction is a scheduled task too) and may hand its
 * response to the fence. Some instances are "slow": short leases and no renewal, and their
 * callers' handlers may stall past the lease (a step that moves the logical clock on), so that
 * other callers take the key over while they are stuck.
 */

export type FenceMode = 'default' | 'claim-on-miss';
/** Where a handler stalls: at its start (before the fenced write) or between it and `set`. */
export type Stall = 'none' | 'before-fence' | 'after-fence';

export interface FenceInstanceSpec {
  readonly mode: FenceMode;
  /** Short leases (SHORT_LEASE_MS), no lease renewal: its holders' leases lapse. */
  readonly slow: boolean;
}

export interface FenceCaller {
  readonly instance: number;
  readonly key: number;
  readonly stall: Stall;
  /** When the handler asks for its fence: at its start, or just before the write. */
  readonly fenceAt: 'start' | 'write';
  /** The handler hands its response to the fence (`fence.item({ response })`). */
  readonly withResponse: boolean;
  /**
   * How often the caller sends the request again after a failure (a client retrying a 409): a
   * retry that comes after a stalled holder's lease lapsed takes the key over.
   */
  readonly retries: number;
}

export interface FenceScenario {
  readonly instances: readonly FenceInstanceSpec[];
  readonly keys: number;
  readonly callers: readonly FenceCaller[];
}

/** A slow instance's lease, logical ms (1 per task): lapses within a run. */
export const SHORT_LEASE_MS = 40;
/** A stall moves the clock on by this much: past any SHORT_LEASE_MS lease taken before. */
export const STALL_MS = SHORT_LEASE_MS + 10;
/**
 * ...at its first task, and stays parked for this many tasks in all: meanwhile others poll, see
 * the lease lapsed, retry and take the key over (a waiter needs 8 tasks for that).
 */
const STALL_STEPS = 8;
/** Waits of (e): never reached in a run (a wait on a slow holder ends when its lease lapses). */
const LOCK_TIMEOUT_MS = 30_000;

export interface FencedExecution {
  readonly key: string;
  readonly n: number;
  readonly by: string;
  readonly instance: number;
  readonly response: { key: string; execution: number; by: string };
  /** What the handler's fenced write did: committed, or the error's fence reason (or code). */
  fence: 'pending' | 'committed' | string;
}

export type AttemptResult = { ok: true; response: unknown } | { ok: false; error: unknown };

/** One request of a caller: the core's sequence once, in a fence scope of its own. */
export interface Attempt {
  readonly result: AttemptResult;
  /** Its sends are among [sentFrom, sentTo) of the run's, its adapter calls [callsFrom, callsTo). */
  readonly sentFrom: number;
  readonly sentTo: number;
  readonly callsFrom: number;
  readonly callsTo: number;
}

export interface FenceCallerOutcome {
  readonly name: string;
  readonly instance: number;
  readonly key: string;
  /** Each request the caller sent, the last one's result being its answer. */
  readonly attempts: readonly Attempt[];
  readonly result: AttemptResult;
}

export interface FenceRun {
  readonly scenario: FenceScenario;
  readonly keys: readonly string[];
  readonly callers: readonly FenceCallerOutcome[];
  readonly executions: ReadonlyMap<string, readonly FencedExecution[]>;
  readonly calls: readonly AdapterCall[];
  readonly sent: readonly SentRequest[];
  /** The adapter's items of the run's keys once quiet (locks, marks, records). */
  readonly items: readonly Record<string, unknown>[];
  /** Every order item committed, per key. */
  readonly orders: ReadonlyMap<string, readonly Record<string, unknown>[]>;
  /** What a plain `get` reads per key once quiet (a record, or a mark's response). */
  readonly stored: ReadonlyMap<string, IdempotencyRecord | null>;
  readonly released: number;
  readonly unscheduled: number;
}

/** The cache key of a request, for labels: a transaction's is that of its fence item. */
function fenceKeyOf(input: Record<string, unknown>): string {
  const items = input.TransactItems as { Put?: { Item?: { pk?: { S?: string } } } }[] | undefined;
  if (items === undefined) return defaultKeyOf(input);
  for (const entry of items) {
    const pk = entry.Put?.Item?.pk?.S;
    if (pk?.startsWith(`${PREFIX}#`)) return pk.slice(PREFIX.length + 1);
  }
  return '?';
}

/** Options of a slow instance: its leases are short and nothing renews them. */
function slowOptions(spec: FenceInstanceSpec): Partial<ElectroDynamoAdapterOptions> {
  if (!spec.slow) return {};
  return {
    lockRenewal: false,
    ...(spec.mode === 'claim-on-miss' && { claimOnMiss: { lockTtlMs: SHORT_LEASE_MS } }),
  };
}

/** Every order item of the table written for one of `keys` (a consistent scan). */
export async function ordersOf(bench: Bench, table: string, keys: readonly string[]) {
  const wanted = new Set(keys);
  const orders = new Map<string, Record<string, unknown>[]>(keys.map((key) => [key, []]));
  let start: Record<string, unknown> | undefined;
  do {
    const page = await bench.admin.send(
      new ScanCommand({
        TableName: table,
        ConsistentRead: true,
        ExclusiveStartKey: start as never,
      }),
    );
    for (const raw of page.Items ?? []) {
      const item = unmarshall(raw);
      const key = String(item.orderFor);
      if (wanted.has(key)) orders.get(key)?.push(item);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return orders;
}

/**
 * Runs each caller through the core's call sequence in a fence scope of its own, on its
 * instance, in the interleaving `s` chooses. The handler waits for a task at its start (a stall
 * there, if it stalls before its write), writes its order item with the fence's item in one
 * TransactWriteItems, waits for a task at its end (a stall there, if it stalls after), and
 * returns `{ key, execution, by }`.
 */
export async function runFenceScenario(
  bench: Bench,
  s: Scheduler,
  scenario: FenceScenario,
  { table, runId }: { table: string; runId: string },
): Promise<FenceRun> {
  const lab = new Interleaver(s, { keyOf: fenceKeyOf });
  const specs = scenario.instances;
  const fleet = createFleet(
    bench,
    table,
    lab,
    specs.map((spec) => spec.mode),
    (index) => slowOptions(specs[index] as FenceInstanceSpec),
  );
  // The user's document client on the instance's own (scheduled) client. It shares the
  // client's configuration, whose marshalling options it sets: the same ones as the adapter's.
  const documents = fleet.instances.map(({ client }) =>
    DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
  );
  const keys = Array.from({ length: scenario.keys }, (_, k) => `${runId}k${k}`);
  const executions = new Map<string, FencedExecution[]>(keys.map((key) => [key, []]));
  const calls: AdapterCall[] = [];
  const seq = { seq: 0 };
  const stall = async (label: string) => {
    for (let step = 1; step <= STALL_STEPS; step += 1) {
      await lab.step(`${label} stall ${step}/${STALL_STEPS}`, step === 1 ? STALL_MS : 0);
    }
  };
  const restoreClock = lab.useLogicalClock();
  let callers: FenceCallerOutcome[];
  try {
    const work = scenario.callers.map((caller, j): Promise<FenceCallerOutcome> => {
      const name = `c${j}`;
      const instance = caller.instance % fleet.instances.length;
      const spec = specs[instance] as FenceInstanceSpec;
      const key = keys[caller.key % keys.length] as string;
      const document = documents[instance] as DynamoDBDocumentClient;
      const adapter = recordingAdapter(
        (fleet.instances[instance] as FleetInstance).adapter,
        instance,
        lab,
        calls,
        seq,
      );
      const handler = async () => {
        let fence: Fence | undefined = caller.fenceAt === 'start' ? currentFence() : undefined;
        await lab.step(`i${instance} handler-start ${key}`);
        if (caller.stall === 'before-fence') await stall(`i${instance} handler ${key}`);
        const ran = executions.get(key) as FencedExecution[];
        const n = ran.length + 1;
        const response = { key, execution: n, by: name };
        const execution: FencedExecution = {
          key,
          n,
          by: name,
          instance,
          response,
          fence: 'pending',
        };
        ran.push(execution);
        try {
          fence ??= currentFence();
          await fence.send(document, {
            TransactItems: [
              fence.item(caller.withResponse ? { response: { response } } : {}),
              {
                Put: {
                  TableName: table,
                  // One item per execution: a second commit, even by a retry, is a second item.
                  Item: { pk: `order#${key}#${n}`, sk: 'order', orderFor: key, by: name, n },
                },
              },
            ],
          });
          execution.fence = 'committed';
        } catch (error) {
          execution.fence = fenceErrorReason(error) ?? codeOf(error);
          throw error;
        }
        if (caller.stall === 'after-fence') await stall(`i${instance} handler ${key}`);
        await lab.step(`i${instance} handler-end ${key}`);
        return response;
      };
      const attempt = async (): Promise<Attempt> => {
        const sentFrom = lab.sent.length;
        const callsFrom = calls.length;
        const result = await runInFenceScope(() =>
          executeLikeCore(adapter, key, handler, {
            lockTtl: spec.slow ? SHORT_LEASE_MS : LONG_LEASE_MS,
            lockTimeout: LOCK_TIMEOUT_MS,
            lockPollInterval: 1,
          }),
        ).then(
          (response): AttemptResult => ({ ok: true, response }),
          (error: unknown): AttemptResult => ({ ok: false, error }),
        );
        return { result, sentFrom, sentTo: lab.sent.length, callsFrom, callsTo: calls.length };
      };
      return lab.spawn(name, async () => {
        const attempts = [await attempt()];
        while (attempts.length <= caller.retries && !attempts.at(-1)?.result.ok) {
          attempts.push(await attempt());
        }
        const { result } = attempts.at(-1) as Attempt;
        return { name, instance, key, attempts, result };
      });
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
  const orders = await ordersOf(bench, table, keys);
  const reader = bench.reader(table);
  const stored = new Map<string, IdempotencyRecord | null>();
  for (const key of keys) stored.set(key, await reader.get(key));
  await bench.remove(table, [...items, ...[...orders.values()].flat()]);
  return {
    scenario,
    keys,
    callers,
    executions,
    calls,
    sent: lab.sent,
    items,
    orders,
    stored,
    released: lab.released,
    unscheduled: lab.unscheduled,
  };
}

/** What property (e) counts: how often each documented outcome happened. */
export interface FenceOutcomes {
  /** Callers whose fenced write (and set) were refused: their lock was taken over. */
  leaseLost: number;
  /** Callers that waited on a holder that stored nothing (a lapsed lease): the core's CONFLICT. */
  waiterConflicts: number;
  /** Attempts whose key another caller claimed after them (their lease lapsed): taken over. */
  takeovers: number;
  /** Fenced writes committed, and of them with the response handed to the fence. */
  commits: number;
  commitsWithResponse: number;
  /** Marks left once quiet (a holder's set replaces its mark; none should stay). */
  marksLeft: number;
  /** Keys whose callers all failed: no order committed. */
  keysWithoutOrder: number;
}

const isLockItem = (item: Record<string, unknown>) => String(item.__edb_e__).endsWith('Lock');

/** A response for a message: a stored error (the core's serialized form) by its name and message. */
function show(response: unknown): string {
  const error = response as { '@@idempotency/error'?: boolean; name?: string; message?: string };
  if (error?.['@@idempotency/error'] === true) {
    return `error record ${String(error.name)} "${String(error.message).slice(0, 90)}…"`;
  }
  return JSON.stringify(response);
}

/** The successful lock puts (claims, lease rewrites) of `actor` on `key`, in send order. */
const lockPutsOf = (run: FenceRun, key: string, actor?: string) =>
  run.sent.filter(
    (request) =>
      request.key === key &&
      request.owner !== undefined &&
      request.answer === 'ok' &&
      (actor === undefined || request.actor === actor),
  );

/**
 * Property (e), as asserted:
 * - per key, at most one order item is ever committed (and none that no execution wrote);
 * - every caller that got a success got the response of the execution whose order committed,
 *   and that is what the key reads once quiet (its record, or the mark's response);
 * - a key with no order committed reads no record;
 * - a caller fails only with
 *   - CONFLICT `lease-lost` (its fenced write, and its set, refused): only where another caller
 *     claimed the key after it (its lease lapsed and it was taken over); its set, if any, was
 *     refused as well;
 *   - the core's CONFLICT of a waiter that finds no record: only on a key a slow instance's
 *     caller held (a lease that lapsed, or a holder that was taken over);
 * - nothing is left locked once quiet, except marks;
 * - no request escaped the scheduler.
 */
export function fenceViolations(run: FenceRun): { problems: string[]; outcomes: FenceOutcomes } {
  const problems: string[] = [];
  const outcomes: FenceOutcomes = {
    leaseLost: 0,
    waiterConflicts: 0,
    takeovers: 0,
    commits: 0,
    commitsWithResponse: 0,
    marksLeft: 0,
    keysWithoutOrder: 0,
  };
  if (run.unscheduled !== 0) problems.push(`${run.unscheduled} requests escaped the scheduler`);
  const specOf = (instance: number) => run.scenario.instances[instance] as FenceInstanceSpec;
  for (const key of run.keys) {
    const callers = run.callers.filter((caller) => caller.key === key);
    const ran = run.executions.get(key) ?? [];
    const orders = run.orders.get(key) ?? [];
    const stored = run.stored.get(key) ?? null;
    if (orders.length > 1) {
      problems.push(
        `${key}: ${orders.length} orders committed (by ${orders.map((order) => `${order.by}#${order.n}`).join(', ')})`,
      );
    }
    const committed = ran.filter((execution) => execution.fence === 'committed');
    outcomes.commits += committed.length;
    for (const execution of committed) {
      const caller = run.scenario.callers[Number(execution.by.slice(1))];
      if (caller?.withResponse) outcomes.commitsWithResponse += 1;
    }
    const order = orders[0];
    const winner =
      order === undefined
        ? undefined
        : ran.find((execution) => execution.by === order.by && execution.n === order.n);
    if (order !== undefined && winner === undefined) {
      problems.push(`${key}: an order no execution wrote: ${JSON.stringify(order)}`);
    }
    for (const execution of committed) {
      if (execution !== winner) {
        problems.push(
          `${key}: ${execution.by}'s fenced write said committed but its order is not the key's`,
        );
      }
    }
    if (callers.length > 0 && orders.length === 0) outcomes.keysWithoutOrder += 1;
    if (winner !== undefined && !isDeepStrictEqual(stored?.response, winner.response)) {
      problems.push(
        `${key}: ${winner.by}'s order committed, but the key reads ${show(stored?.response)} instead of ${show(winner.response)}`,
      );
    }
    if (order === undefined && stored !== null) {
      problems.push(`${key}: no order committed, yet the key reads ${show(stored.response)}`);
    }
    // Another caller's claim after the attempt's first one: the key was taken over from it.
    const takenOver = (actor: string, attempt: Attempt) => {
      const own = lockPutsOf(run, key, actor).filter(
        (put) => put.send >= attempt.sentFrom && put.send < attempt.sentTo,
      )[0];
      return (
        own !== undefined &&
        lockPutsOf(run, key).some(
          (put) => put.actor !== actor && put.send > own.send && put.send < attempt.sentTo,
        )
      );
    };
    const slowHeld = callers.some(
      (caller) => specOf(caller.instance).slow && lockPutsOf(run, key, caller.name).length > 0,
    );
    for (const caller of callers) {
      for (const [index, attempt] of caller.attempts.entries()) {
        const name = index === 0 ? caller.name : `${caller.name} (retry ${index})`;
        if (takenOver(caller.name, attempt)) outcomes.takeovers += 1;
        const result = attempt.result;
        if (result.ok) {
          if (winner === undefined || !isDeepStrictEqual(result.response, stored?.response)) {
            problems.push(
              `${key}: ${name} got ${show(result.response)} but the key reads ${show(stored?.response)} (order by ${String(order?.by ?? 'nobody')})`,
            );
          }
          continue;
        }
        const error = result.error;
        const reason = fenceErrorReason(error);
        if (reason === 'lease-lost' && codeOf(error) === 'CONFLICT') {
          outcomes.leaseLost += 1;
          if (!takenOver(caller.name, attempt)) {
            problems.push(`${key}: ${name} got lease-lost although nobody took the key over`);
          }
          const sets = run.calls
            .slice(attempt.callsFrom, attempt.callsTo)
            .filter((call) => call.actor === caller.name && call.method === 'set');
          for (const set of sets) {
            if (set.outcome?.ok !== false || fenceErrorReason(set.outcome.error) !== 'lease-lost') {
              problems.push(
                `${key}: ${name} lost its lease, but its set ${set.outcome?.ok ? 'stored its record' : `failed with ${codeOf(set.outcome?.error)}`}`,
              );
            }
          }
        } else if (error instanceof ReferenceConflictError) {
          outcomes.waiterConflicts += 1;
          if (!slowHeld) {
            problems.push(`${key}: ${name} got the core's CONFLICT though no lease could lapse`);
          }
        } else {
          const named = reason === undefined ? codeOf(error) : `${codeOf(error)} ${reason}`;
          const message = error instanceof Error ? error.message : String(error);
          problems.push(`${key}: ${name} failed with ${named}: ${message}`);
        }
      }
    }
  }
  for (const item of run.items.filter(isLockItem)) {
    if (item.markedUntil !== undefined) {
      outcomes.marksLeft += 1;
    } else {
      problems.push(
        `${String(item.cacheKey)} still locked once quiet (owner ${String(item.owner)})`,
      );
    }
  }
  return { problems, outcomes };
}

/** The run as a story, for a failure's message: the tasks released, then each caller's end. */
export function describeFenceRun(run: FenceRun, report: readonly { label: string }[]): string {
  const lines = report.map((task) => `  ${task.label}`);
  for (const caller of run.callers) {
    const spec = run.scenario.callers[Number(caller.name.slice(1))];
    const ends = caller.attempts.map(({ result }) =>
      result.ok
        ? `ok ${show(result.response)}`
        : `${codeOf(result.error)} ${fenceErrorReason(result.error) ?? ''}`.trim(),
    );
    lines.push(
      `  ${caller.name} (i${caller.instance} ${caller.key}, ${JSON.stringify(spec)}): ${ends.join(' then ')}`,
    );
  }
  return lines.join('\n');
}
