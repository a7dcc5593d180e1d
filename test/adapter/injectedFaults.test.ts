import { isDeepStrictEqual } from 'node:util';
import {
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import type { IdempotencyRecord, StorageAdapter } from '../../src/types.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { settle, sleep, withDeadline } from '../support/async.js';
import { backend, createClient, createTable, startBackend } from '../support/backend.js';
import { executeLikeCore, ReferenceConflictError } from '../support/coreReference.mjs';
import {
  FAULT_KINDS,
  type FaultProxy,
  type FaultRates,
  scaledRetryStrategy,
  startFaultProxy,
  totalOf,
} from '../support/faultProxy.js';
import { seededRandom } from '../support/seededRandom.mjs';
import { type ServerProcess, startServerProcess } from '../support/serverProcess.js';

// Fault decisions are reproducible from the seed (in the order requests reach the proxy):
// rerun a failure with FAULT_SEED=<seed>, and FAULT_SUMMARY=1 prints what was injected.
const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SEED_NOTE = `FAULT_SEED=${SEED}`;

const TABLE = 'idempotency-faults';
const EFFECTS_TABLE = 'handler-effects';
const PREFIX = 'idem';

const REQUEST_TIMEOUT_MS = 400;
/** The DynamoDB client's default. */
const MAX_ATTEMPTS = 4;
// After a throttle the SDK waits random(0, 1 s · 2^retry): up to 7 s for one request over four
// attempts, more than this whole file may take. The SDK's own strategy (classification, attempt
// limit, retry quota) runs instead with every backoff delay divided by ten, which keeps the
// shape of the real delays and their proportions.
const BACKOFF_SPEEDUP = 10;
const SDK_THROTTLING_BASE_DELAY_MS = 1_000;
/** The longest one request can take through the faulty client: every attempt timing out. */
const MAX_REQUEST_MS =
  MAX_ATTEMPTS * REQUEST_TIMEOUT_MS +
  (SDK_THROTTLING_BASE_DELAY_MS / BACKOFF_SPEEDUP) * (2 ** (MAX_ATTEMPTS - 1) - 1);

// The server runs in a process of its own: the SDK clients, the proxy and the adapters already
// keep this event loop busy, and a loop that lags fires request timeouts nobody injected.
let dynamo: Pick<ServerProcess, 'endpoint' | 'kill'>;
let clean: DynamoDBClient;
let proxy: FaultProxy | undefined;
const faultyClients: DynamoDBClient[] = [];

beforeAll(async () => {
  // A server given by TEST_BACKEND=endpoint is already a process of its own.
  dynamo =
    backend === 'endpoint'
      ? await startBackend().then(({ endpoint, close }) => ({ endpoint, kill: close }))
      : await startServerProcess();
  clean = createClient(dynamo.endpoint);
  await createTable(clean, TABLE);
  await createTable(clean, EFFECTS_TABLE);
});

afterEach(async () => {
  for (const client of faultyClients.splice(0)) client.destroy();
  await proxy?.close();
  proxy = undefined;
});

afterAll(async () => {
  clean.destroy();
  await dynamo.kill();
});

async function startProxy(rates: FaultRates = {}, seedOffset = 0): Promise<FaultProxy> {
  proxy = await startFaultProxy({ target: dynamo.endpoint, seed: SEED + seedOffset, rates });
  return proxy;
}

/** A client that reaches DynamoDB only through the fault proxy. */
function faultyClient(
  endpoint: string,
  { maxAttempts = MAX_ATTEMPTS, speedup = BACKOFF_SPEEDUP } = {},
): DynamoDBClient {
  const client = createClient(endpoint, {
    retryStrategy: scaledRetryStrategy(maxAttempts, speedup),
    requestHandler: {
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionTimeout: REQUEST_TIMEOUT_MS,
      // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  });
  faultyClients.push(client);
  return client;
}

function adapterOn(
  client: DynamoDBClient,
  options: Partial<ElectroDynamoAdapterOptions> = {},
): ElectroDynamoAdapter {
  return new ElectroDynamoAdapter({ client, table: TABLE, prefix: PREFIX, ...options });
}

async function scanItems(table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: ScanCommandOutput['LastEvaluatedKey'];
  do {
    const page = await clean.send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []).map((item) => unmarshall(item)));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}

type Method = 'get' | 'set' | 'acquireLock' | 'releaseLock' | 'waitForLock';

interface Call {
  readonly method: Method;
  readonly startedAt: number;
  settledAt: number;
  ok: boolean;
  error: unknown;
  readonly record?: IdempotencyRecord;
}

/** One caller's pass through the core's sequence, as seen at the adapter boundary. */
interface Flow {
  readonly key: string;
  readonly caller: number;
  readonly calls: Call[];
  /** When this caller's handler ran, and whether its side effect was the key's first. */
  execution?: { readonly startedAt: number; firstEffect?: boolean };
  outcome?: { readonly ok: true; readonly value: unknown } | { readonly ok: false; error: unknown };
  settledAt: number;
}

/** The adapter as this flow uses it: every storage call is recorded with its outcome. */
function observed(adapter: StorageAdapter, flow: Flow): StorageAdapter {
  async function track<T>(method: Method, send: () => Promise<T>, record?: IdempotencyRecord) {
    const call: Call = {
      method,
      startedAt: performance.now(),
      settledAt: Number.NaN,
      ok: false,
      error: undefined,
      ...(record === undefined ? {} : { record }),
    };
    flow.calls.push(call);
    try {
      const value = await send();
      call.ok = true;
      return value;
    } catch (error) {
      call.error = error;
      throw error;
    } finally {
      call.settledAt = performance.now();
    }
  }
  return {
    connect: () => adapter.connect(),
    disconnect: () => adapter.disconnect(),
    delete: (key) => adapter.delete(key),
    get: (key) => track('get', () => adapter.get(key)),
    set: (key, record) => track('set', () => adapter.set(key, record), record),
    acquireLock: (key, ttlMs) => track('acquireLock', () => adapter.acquireLock(key, ttlMs)),
    releaseLock: (key) => track('releaseLock', () => adapter.releaseLock(key)),
    waitForLock: (key, timeoutMs, pollMs) =>
      track('waitForLock', () => adapter.waitForLock(key, timeoutMs, pollMs)),
  };
}

/**
 * The handler's side effect, sent through the clean client so it can neither fail nor be
 * ambiguous: a conditional put that only the key's first execution can make.
 */
async function performEffect(key: string): Promise<boolean> {
  try {
    await clean.send(
      new PutItemCommand({
        TableName: EFFECTS_TABLE,
        Item: { pk: { S: key }, sk: { S: 'effect' } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

const failingCall = (flow: Flow, error: unknown) => flow.calls.find((call) => call.error === error);
const codeOf = (error: unknown) => (error as { code?: unknown }).code;

/** Why a STORAGE_ERROR is not what an injected fault surviving the SDK's retries leaves. */
function storageErrorProblem(flow: Flow, error: unknown): string | undefined {
  const call = failingCall(flow, error);
  if (call === undefined) return 'raised by no storage call';
  const { name, context, cause } = error as { name?: unknown; context?: unknown; cause?: unknown };
  if (name !== 'IdempotencyError') return `name ${String(name)}`;
  const expected = { operation: call.method, table: TABLE, key: flow.key };
  if (!isDeepStrictEqual(context, expected)) return `context ${JSON.stringify(context)}`;
  const aws = cause as { name?: unknown; code?: unknown; $metadata?: { attempts?: number } };
  // The SDK names every transport failure it retries TimeoutError: a reset (ECONNRESET), a
  // request timeout (ETIMEDOUT) or a connection that took too long (no code).
  const known =
    aws?.name === 'ProvisionedThroughputExceededException' ||
    aws?.name === 'InternalServerError' ||
    aws?.name === 'TimeoutError';
  if (!known)
    return `cause ${String(aws?.name)} ${String(aws?.code)} ${String((aws as Error).message)}`;
  // Fewer attempts than allowed when the client's retry quota has run dry.
  const attempts = aws.$metadata?.attempts ?? 0;
  if (attempts < 1 || attempts > MAX_ATTEMPTS) return `after ${attempts} attempts`;
  return undefined;
}

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter through the core sequence under injected faults ($mode mode)',
  ({ mode, options: modeOptions, claimsOnGet }) => {
    it('keeps acknowledged records and runs a handler again only after a failed set', async () => {
      // Prepare
      const KEYS = 200;
      const CALLERS_PER_KEY = 3;
      // Callers run from one queue, a key's callers next to each other and each after a short
      // random delay, so duplicates overlap. At most FLOWS_IN_FLIGHT run at once, which keeps
      // request latency within the request timeout on a busy machine; at a fixed arrival rate
      // requests queue up in this event loop instead, time out, and their retries add to the queue.
      const FLOWS_IN_FLIGHT = 24;
      const START_JITTER_MS = 100;
      // The lock outlives the run, so only a release can end it early. A waiter gives up after
      // LOCK_TIMEOUT_MS: longer than a holder whose claim and set both succeed can keep the lock,
      // even with every attempt but the last failing (two requests of MAX_REQUEST_MS, and the
      // handler). A holder that fails may keep it longer.
      const LOCK_TIMEOUT_MS = 2 * MAX_REQUEST_MS + 1_000;
      const options = { lockTtl: 120_000, lockTimeout: LOCK_TIMEOUT_MS, lockPollInterval: 100 };
      const faults = await startProxy({
        throttle: 0.05,
        serverErrorBefore: 0.025,
        serverErrorAfter: 0.025,
        resetBefore: 0.025,
        resetAfter: 0.025,
        timeoutBefore: 0.025,
        timeoutAfter: 0.025,
      });
      const instances = Array.from({ length: CALLERS_PER_KEY }, () =>
        adapterOn(faultyClient(faults.endpoint), modeOptions),
      );
      const jitter = seededRandom(SEED ^ 0x5bd1e995);
      const flows: Flow[] = [];

      // Act
      const started = performance.now();
      const runFlow = async (k: number, caller: number) => {
        const flow: Flow = { key: `${mode}-order-${k}`, caller, calls: [], settledAt: Number.NaN };
        flows.push(flow);
        const adapter = observed(instances[caller] as ElectroDynamoAdapter, flow);
        const handler = async () => {
          const execution: NonNullable<Flow['execution']> = { startedAt: performance.now() };
          flow.execution = execution;
          execution.firstEffect = await performEffect(flow.key);
          return { key: flow.key, caller, firstEffect: execution.firstEffect };
        };
        await sleep(Math.floor(jitter() * START_JITTER_MS));
        try {
          flow.outcome = {
            ok: true,
            value: await executeLikeCore(adapter, flow.key, handler, options),
          };
        } catch (error) {
          flow.outcome = { ok: false, error };
        } finally {
          flow.settledAt = performance.now();
        }
      };
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < KEYS * CALLERS_PER_KEY; i = next++) {
          await runFlow(Math.floor(i / CALLERS_PER_KEY), i % CALLERS_PER_KEY);
        }
      };
      const runs = Array.from({ length: FLOWS_IN_FLIGHT }, worker);
      await withDeadline(60_000, 'flows', Promise.all(runs));
      const elapsed = performance.now() - started;
      faults.disable();

      // Assess
      const reader = adapterOn(clean);
      const items = new Map((await scanItems(TABLE)).map((item) => [String(item.pk), item]));
      const effects = new Set((await scanItems(EFFECTS_TABLE)).map((item) => String(item.pk)));
      const injected = faults.injected();
      const failed = flows.filter((flow) => flow.outcome?.ok === false);
      const problems: string[] = [];
      let recordsChecked = 0;
      const byKey = new Map<string, Flow[]>();
      for (const flow of flows) byKey.set(flow.key, [...(byKey.get(flow.key) ?? []), flow]);

      for (const [key, keyFlows] of byKey) {
        const allCalls = keyFlows.flatMap((flow) => flow.calls);
        const rejected = (method: Method) => allCalls.filter((c) => c.method === method && !c.ok);
        // The calls that write a lock: acquireLock, and with claim-on-miss each flow's first get
        // (the get after a lock wait is a plain read).
        const rejectedClaims = keyFlows.flatMap((flow) =>
          flow.calls.filter(
            (c, i) =>
              !c.ok &&
              (c.method === 'acquireLock' || (claimsOnGet && i === 0 && c.method === 'get')),
          ),
        );
        const acknowledged = allCalls.filter((c) => c.method === 'set' && c.ok);
        const stored = await reader.get(key);

        // A record whose set resolved is there, equal to what was stored.
        if (acknowledged.length > 1) problems.push(`${key}: ${acknowledged.length} sets resolved`);
        const [ack] = acknowledged;
        if (ack !== undefined) {
          recordsChecked += 1;
          if (!isDeepStrictEqual(stored, ack.record)) {
            problems.push(
              `${key}: set ${JSON.stringify(ack.record)} reads ${JSON.stringify(stored)}`,
            );
          }
        }
        // Callers that got an answer all got the one answer the key holds.
        for (const flow of keyFlows) {
          if (flow.outcome?.ok && !isDeepStrictEqual(flow.outcome.value, stored?.response)) {
            problems.push(
              `${key}: caller ${flow.caller} got ${JSON.stringify(flow.outcome.value)}`,
            );
          }
        }

        // While the lock is valid only its release ends it, and the core releases without a
        // record only after a failed set: every execution but the last is one whose set rejected,
        // and it rejected before the next execution began.
        const executions = keyFlows
          .filter((flow) => flow.execution !== undefined)
          .sort((a, b) => (a.execution?.startedAt ?? 0) - (b.execution?.startedAt ?? 0));
        executions.forEach((flow, i) => {
          if (flow.execution?.firstEffect !== (i === 0)) {
            problems.push(`${key}: execution ${i + 1} first effect ${flow.execution?.firstEffect}`);
          }
          const next = executions[i + 1];
          if (next === undefined) return;
          const set = flow.calls.find((c) => c.method === 'set');
          if (set === undefined || set.ok || set.settledAt > (next.execution?.startedAt ?? 0)) {
            problems.push(`${key}: execution ${i + 2} began without a failed set before it`);
          }
        });
        if (effects.has(key) !== executions.length > 0) {
          problems.push(`${key}: side effect ${effects.has(key)}, ${executions.length} executions`);
        }

        // A lock outlives the run only when a claim or a release failed and left it in doubt.
        const item = items.get(`${PREFIX}#${key}`);
        if (
          item?.__edb_e__ === 'idempotencyLock' &&
          rejectedClaims.length + rejected('releaseLock').length === 0
        ) {
          problems.push(`${key}: a lock is left behind although every claim and release resolved`);
        }

        // What callers saw when they failed.
        for (const flow of keyFlows) {
          if (flow.outcome?.ok !== false) continue;
          const { error } = flow.outcome;
          const where = `${key}: caller ${flow.caller}`;
          const code = codeOf(error);
          if (code === 'STORAGE_ERROR') {
            const problem = storageErrorProblem(flow, error);
            if (problem !== undefined) problems.push(`${where}: STORAGE_ERROR ${problem}`);
          } else if (code === 'LOCK_TIMEOUT') {
            // A waiter outwaits only a lock nobody releases in time: a claim that committed but
            // whose answer was lost for good (acquireLock STORAGE_ERROR; the lock stays until its
            // TTL), or a holder whose set failed, leaving the lock to a release that failed too
            // or outlasted the wait.
            const wait = failingCall(flow, error);
            const ownerFailed = rejectedClaims
              .concat(rejected('set'))
              .some((c) => c.startedAt < (wait?.settledAt ?? 0));
            const expected = {
              operation: 'waitForLock',
              table: TABLE,
              key,
              timeoutMs: LOCK_TIMEOUT_MS,
            };
            if (
              !ownerFailed ||
              wait?.method !== 'waitForLock' ||
              (error as Error).name !== 'IdempotencyError' ||
              !isDeepStrictEqual((error as { context?: unknown }).context, expected)
            ) {
              problems.push(`${where}: LOCK_TIMEOUT without a failed owner`);
            }
          } else if (error instanceof ReferenceConflictError) {
            // The lock went away without a record: released after the holder's set failed.
            if (!rejected('set').some((c) => c.settledAt < flow.settledAt)) {
              problems.push(`${where}: CONFLICT without a failed set`);
            }
          } else {
            problems.push(`${where}: unexpected ${String(error)}`);
          }
        }
      }

      if (process.env.FAULT_SUMMARY) {
        const failedWith = (code: string) =>
          failed.filter((flow) => flow.outcome?.ok === false && codeOf(flow.outcome.error) === code)
            .length;
        console.info(
          JSON.stringify({
            seed: SEED,
            elapsedMs: Math.round(elapsed),
            flows: flows.length,
            failed: failed.length,
            storageErrors: failedWith('STORAGE_ERROR'),
            lockTimeouts: failedWith('LOCK_TIMEOUT'),
            conflicts: failedWith('CONFLICT'),
            executions: flows.filter((flow) => flow.execution !== undefined).length,
            requests: faults.received(),
            forwarded: faults.forwarded(),
            injected,
          }),
        );
      }

      expect(problems, SEED_NOTE).toEqual([]);
      // Faults of every kind happened, and the SDK's retries absorbed nearly all of them.
      for (const kind of FAULT_KINDS) {
        expect(injected[kind], `${kind} ${SEED_NOTE}`).toBeGreaterThan(0);
      }
      expect(failed.length, SEED_NOTE).toBeLessThanOrEqual(flows.length * 0.1);
      expect(totalOf(injected), SEED_NOTE).toBeGreaterThan(10 * failed.length);
      expect(recordsChecked, SEED_NOTE).toBeGreaterThanOrEqual(KEYS * 0.9);
    }, 60_000);
  },
);

describe('ElectroDynamoAdapter.releaseLock when DeleteItem keeps failing', () => {
  it.each([
    ['serverErrorBefore', { name: 'InternalServerError' }],
    ['resetBefore', { name: 'TimeoutError', code: 'ECONNRESET' }],
  ] as const)(
    '%s: rejects STORAGE_ERROR and the lock holds until its TTL, then lapses',
    async (kind, cause) => {
      // Prepare
      const LOCK_TTL_MS = 1_500;
      const key = `release-${kind}`;
      const faults = await startProxy();
      faults.setOperationRates('DeleteItem', { [kind]: 1 });
      const holder = adapterOn(faultyClient(faults.endpoint));
      const other = adapterOn(clean);
      const lockItem = async () =>
        (await scanItems(TABLE)).find((item) => item.pk === `${PREFIX}#${key}`);
      expect(await holder.acquireLock(key, LOCK_TTL_MS)).toBe(true);
      const lock = await lockItem();
      const validUntil = Number(lock?.validUntil);

      // Act
      const error = await settle(holder.releaseLock(key));

      // Assess
      expect(error, SEED_NOTE).toMatchObject({
        name: 'IdempotencyError',
        code: 'STORAGE_ERROR',
        context: { operation: 'releaseLock', table: TABLE, key },
        cause: { ...cause, $metadata: { attempts: MAX_ATTEMPTS } },
      });
      expect(faults.injected('DeleteItem')[kind]).toBe(MAX_ATTEMPTS);
      expect(faults.forwarded('DeleteItem')).toBe(0);
      expect(await lockItem()).toEqual(lock);
      expect(Date.now()).toBeLessThan(validUntil - 300);
      expect(await other.acquireLock(key, 60_000)).toBe(false);
      await sleep(validUntil - 150 - Date.now());
      expect(await other.acquireLock(key, 60_000)).toBe(false);
      await other.waitForLock(key, 5_000, 10);
      const lapsedAt = Date.now();
      expect(lapsedAt).toBeGreaterThan(validUntil);
      expect(lapsedAt).toBeLessThan(validUntil + 250);
      expect(await other.acquireLock(key, 60_000)).toBe(true);
    },
  );
});

describe('ElectroDynamoAdapter.get under read throttling', () => {
  it('succeeds through the SDK retries while most reads are throttled', async () => {
    // Prepare
    const READS = 10;
    const RATE = 0.6;
    // 0.6^25: a read throttled on every attempt is not going to happen. So many retries back
    // off exponentially for seconds at a tenth of the real delays; a hundredth keeps it short.
    const ATTEMPTS = 25;
    const faults = await startProxy({}, 1);
    faults.setOperationRates('GetItem', { throttle: RATE });
    const adapter = adapterOn(
      faultyClient(faults.endpoint, { maxAttempts: ATTEMPTS, speedup: 100 }),
    );
    const records = Array.from({ length: READS }, (_, i) => ({
      response: { read: i },
      createdAt: Date.now(),
      ttl: 60_000,
    }));
    await Promise.all(records.map((record, i) => adapterOn(clean).set(`throttled-${i}`, record)));

    // Act
    const read: (IdempotencyRecord | null)[] = [];
    for (let i = 0; i < READS; i += 1) read.push(await adapter.get(`throttled-${i}`));

    // Assess
    expect(read, SEED_NOTE).toEqual(records);
    expect(faults.forwarded('GetItem'), SEED_NOTE).toBe(READS);
    const throttled = faults.injected('GetItem').throttle;
    expect(throttled, SEED_NOTE).toBeGreaterThan(0);
    expect(throttled, SEED_NOTE).toBe(faults.received('GetItem') - READS);
  });

  it('rejects STORAGE_ERROR with the throttling error once the attempts run out', async () => {
    // Prepare
    const faults = await startProxy({}, 2);
    faults.setOperationRates('GetItem', { throttle: 1 });
    const adapter = adapterOn(faultyClient(faults.endpoint));
    await adapterOn(clean).set('always-throttled', {
      response: 'r',
      createdAt: Date.now(),
      ttl: 60_000,
    });

    // Act
    const error = await settle(adapter.get('always-throttled'));

    // Assess
    expect(error, SEED_NOTE).toMatchObject({
      name: 'IdempotencyError',
      code: 'STORAGE_ERROR',
      context: { operation: 'get', table: TABLE, key: 'always-throttled' },
      cause: {
        name: 'ProvisionedThroughputExceededException',
        $metadata: { httpStatusCode: 400, attempts: MAX_ATTEMPTS },
      },
    });
    expect(faults.injected('GetItem').throttle).toBe(MAX_ATTEMPTS);
    expect(faults.forwarded('GetItem')).toBe(0);
  });
});
