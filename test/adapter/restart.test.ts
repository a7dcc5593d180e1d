import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import type { IdempotencyRecord, StorageAdapter } from '../../src/types.js';
import { sleep, withDeadline } from '../support/async.js';
import { backend, createClient, createTable } from '../support/backend.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { freePort, type ServerProcess, startServerProcess } from '../support/serverProcess.js';

const TABLE = 'idempotency-restart';
const PREFIX = 'idem';

const MAX_ATTEMPTS = 3;
const REQUEST_TIMEOUT_MS = 1_000;
/** The DynamoDB client's base delay between retries of a transient failure. */
const SDK_RETRY_BASE_DELAY_MS = 25;
/**
 * The longest a call may take while DynamoDB is down: every attempt running into the request
 * timeout, the largest backoff between attempts (full jitter below base · 2^retry), and slack
 * for a busy machine. A refused connection fails at once, so the real figure is far smaller.
 */
const OUTAGE_CALL_BOUND_MS =
  MAX_ATTEMPTS * REQUEST_TIMEOUT_MS +
  SDK_RETRY_BASE_DELAY_MS * (2 ** (MAX_ATTEMPTS - 1) - 1) +
  2_000;

let dataDir: string;
let server: ServerProcess | undefined;
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'electrodb-idempotency-restart-'));
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await server?.kill();
  await rm(dataDir, { recursive: true, force: true });
});

function client(endpoint: string): DynamoDBClient {
  const created = createClient(endpoint, {
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionTimeout: REQUEST_TIMEOUT_MS,
      // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  });
  clients.push(created);
  return created;
}

async function waitForActiveTable(dynamo: DynamoDBClient): Promise<void> {
  for (;;) {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: TABLE }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await sleep(10);
  }
}

interface Flow {
  readonly key: string;
  readonly startedAt: number;
  settledAt: number;
  executed: boolean;
  /** The record of this flow's `set`, once it resolved. */
  acknowledged?: IdempotencyRecord;
  outcome?: { readonly ok: true; readonly value: unknown } | { readonly ok: false; error: unknown };
}

/** The adapter as one flow uses it: a `set` that resolved is noted on the flow. */
function observed(adapter: StorageAdapter, flow: Flow): StorageAdapter {
  return {
    connect: () => adapter.connect(),
    disconnect: () => adapter.disconnect(),
    get: (key) => adapter.get(key),
    delete: (key) => adapter.delete(key),
    acquireLock: (key, ttlMs) => adapter.acquireLock(key, ttlMs),
    releaseLock: (key) => adapter.releaseLock(key),
    waitForLock: (key, timeoutMs, pollMs) => adapter.waitForLock(key, timeoutMs, pollMs),
    async set(key, record) {
      await adapter.set(key, record);
      flow.acknowledged = record;
    },
  };
}

async function runFlow(adapter: StorageAdapter, key: string): Promise<Flow> {
  const flow: Flow = { key, startedAt: performance.now(), settledAt: Number.NaN, executed: false };
  const handler = async () => {
    flow.executed = true;
    return { key, at: Date.now() };
  };
  try {
    flow.outcome = {
      ok: true,
      value: await executeLikeCore(observed(adapter, flow), key, handler),
    };
  } catch (error) {
    flow.outcome = { ok: false, error };
  } finally {
    flow.settledAt = performance.now();
  }
  return flow;
}

/** How a failed call looks when DynamoDB cannot be reached, or `undefined` when it looks so. */
function unreachableProblem(error: unknown, operation: string, key: string): string | undefined {
  const { name, code, context, cause } = error as Record<string, unknown>;
  const aws = cause as { name?: unknown; code?: unknown; $metadata?: { attempts?: number } };
  if (name !== 'IdempotencyError' || code !== 'STORAGE_ERROR') {
    return `${String(name)} ${String(code)}`;
  }
  if (!isDeepStrictEqual(context, { operation, table: TABLE, key })) {
    return `context ${JSON.stringify(context)}`;
  }
  // The Node error code tells what happened to the connection (the SDK renames ECONNRESET and
  // EPIPE to TimeoutError, and leaves ECONNREFUSED an Error); it retries all three.
  if (!['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(String(aws?.code))) {
    return `cause ${String(aws?.name)} ${String(aws?.code)}`;
  }
  const attempts = aws.$metadata?.attempts ?? 0;
  if (attempts < 1 || attempts > MAX_ATTEMPTS) return `after ${attempts} attempts`;
  return undefined;
}

// The test crashes and restarts the server itself, which a server given by endpoint is not.
describe.skipIf(backend === 'endpoint')(
  'ElectroDynamoAdapter across a DynamoDB crash and restart',
  () => {
    it('keeps every acknowledged record, fails fast with STORAGE_ERROR while down and works after restart', async () => {
      // Prepare
      const WORKERS = 6;
      const port = await freePort();
      server = await startServerProcess({ port, path: dataDir });
      const dynamo = client(server.endpoint);
      await createTable(dynamo, TABLE);
      await waitForActiveTable(dynamo);
      const adapter = new ElectroDynamoAdapter({ client: dynamo, table: TABLE, prefix: PREFIX });
      // A lock taken before the crash, for a release while DynamoDB is down.
      expect(await adapter.acquireLock('held-across-crash', 60_000)).toBe(true);
      const flows: Flow[] = [];
      let keys = 0;
      let stopping = false;
      const worker = async () => {
        while (!stopping) flows.push(await runFlow(adapter, `flow-${keys++}`));
      };
      const workers = Array.from({ length: WORKERS }, worker);
      const acknowledged = () => flows.filter((flow) => flow.acknowledged !== undefined).length;
      while (acknowledged() < 100) await sleep(10);

      // Act: crash
      const inFlightAtCrash = keys - flows.length;
      const crashedAt = performance.now();
      await server.kill('SIGKILL');
      const downAt = performance.now();
      // Act: calls while down
      const outageCalls = await withDeadline(
        30_000,
        'calls while down',
        Promise.all(
          (
            [
              ['get', (key: string) => adapter.get(key)],
              [
                'set',
                (key: string) =>
                  adapter.set(key, { response: 1, createdAt: Date.now(), ttl: 60_000 }),
              ],
              ['delete', (key: string) => adapter.delete(key)],
              ['acquireLock', (key: string) => adapter.acquireLock(key, 60_000)],
              ['releaseLock', () => adapter.releaseLock('held-across-crash')],
              ['waitForLock', (key: string) => adapter.waitForLock(key, 5_000, 50)],
            ] as const
          ).map(async ([operation, call]) => {
            const key = operation === 'releaseLock' ? 'held-across-crash' : `down-${operation}`;
            const started = performance.now();
            const error = await call(key).then(
              () => undefined,
              (e: unknown) => e,
            );
            return { operation, key, error, ms: performance.now() - started };
          }),
        ),
      );
      await sleep(500);
      stopping = true;
      await withDeadline(30_000, 'flows after the crash', Promise.all(workers));
      const restartStarted = performance.now();
      server = await startServerProcess({ port, path: dataDir });
      const restartMs = performance.now() - restartStarted;
      // Act: after restart, on the same client and adapter
      const after = await withDeadline(
        30_000,
        'flows after the restart',
        Promise.all(Array.from({ length: 20 }, (_, i) => runFlow(adapter, `after-restart-${i}`))),
      );
      const replayed = flows.find(
        (flow) => flow.acknowledged !== undefined && flow.settledAt < crashedAt,
      );
      const replay = replayed === undefined ? undefined : await runFlow(adapter, replayed.key);

      // Assess
      const reader = new ElectroDynamoAdapter({
        client: client(server.endpoint),
        table: TABLE,
        prefix: PREFIX,
      });
      const lost: string[] = [];
      for (const flow of flows) {
        if (flow.acknowledged === undefined) continue;
        const stored = await reader.get(flow.key);
        if (!isDeepStrictEqual(stored, flow.acknowledged)) {
          lost.push(
            `${flow.key}: ${JSON.stringify(flow.acknowledged)} reads ${JSON.stringify(stored)}`,
          );
        }
      }
      const acknowledgedBeforeCrash = flows.filter(
        (flow) => flow.acknowledged !== undefined && flow.settledAt < crashedAt,
      ).length;
      expect(acknowledgedBeforeCrash).toBeGreaterThanOrEqual(100);
      expect(lost).toEqual([]);

      // Calls made while down fail as STORAGE_ERROR naming the refused connection, in bounded time.
      const outageProblems = outageCalls.flatMap(({ operation, key, error }) => {
        const problem = unreachableProblem(error, operation, key);
        return problem === undefined ? [] : [`${operation}: ${problem}`];
      });
      expect(outageProblems).toEqual([]);
      for (const { ms } of outageCalls) expect(ms).toBeLessThan(OUTAGE_CALL_BOUND_MS);

      // Flows in flight at the crash or started while down settled: succeeded before the crash
      // took effect, or failed as STORAGE_ERROR within the bound.
      const duringOutage = flows.filter((flow) => flow.startedAt >= downAt);
      const caught = flows.filter((flow) => flow.startedAt < downAt && flow.settledAt >= crashedAt);
      expect(inFlightAtCrash).toBeGreaterThan(0);
      expect(duringOutage.length).toBeGreaterThan(0);
      const flowProblems = [...caught, ...duringOutage].flatMap((flow) => {
        if (flow.outcome?.ok)
          return flow.startedAt < downAt ? [] : [`${flow.key}: succeeded while down`];
        const error = flow.outcome?.error;
        const operation = String(
          (error as { context?: { operation?: unknown } }).context?.operation,
        );
        const problem = unreachableProblem(error, operation, flow.key);
        const late = flow.settledAt - Math.max(flow.startedAt, downAt) > OUTAGE_CALL_BOUND_MS;
        return [
          ...(problem === undefined ? [] : [`${flow.key}: ${problem}`]),
          ...(late
            ? [`${flow.key}: settled ${Math.round(flow.settledAt - downAt)} ms after the crash`]
            : []),
        ];
      });
      expect(flowProblems).toEqual([]);
      for (const flow of duringOutage) {
        expect((flow.outcome as { error?: { context?: unknown } }).error?.context).toMatchObject({
          operation: 'get',
        });
      }

      // After the restart the same adapter serves new flows and replays records from before.
      expect(after.map((flow) => flow.outcome?.ok)).toEqual(after.map(() => true));
      expect(after.every((flow) => flow.executed && flow.acknowledged !== undefined)).toBe(true);
      expect(replay?.outcome).toEqual({ ok: true, value: replayed?.acknowledged?.response });
      expect(replay?.executed).toBe(false);
      // The lock whose release failed while down survived the crash too, and still holds.
      expect(await reader.acquireLock('held-across-crash', 60_000)).toBe(false);

      if (process.env.FAULT_SUMMARY) {
        console.info(
          JSON.stringify({
            flows: flows.length,
            acknowledgedBeforeCrash,
            acknowledged: acknowledged(),
            inFlightAtCrash,
            duringOutage: duringOutage.length,
            outageCalls: outageCalls.map((c) => {
              const cause = (
                c.error as { cause?: { code?: string; $metadata?: { attempts?: number } } }
              ).cause;
              return `${c.operation} ${Math.round(c.ms)} ms ${cause?.code} ×${cause?.$metadata?.attempts}`;
            }),
            caughtAtCrash: caught.map((flow) => {
              const error = flow.outcome?.ok === false ? flow.outcome.error : undefined;
              const { context, cause } = (error ?? {}) as {
                context?: { operation?: string };
                cause?: { code?: string };
              };
              return error === undefined ? 'ok' : `${context?.operation} ${cause?.code}`;
            }),
            slowestOutageFlowMs: Math.round(
              Math.max(...duringOutage.map((flow) => flow.settledAt - flow.startedAt)),
            ),
            restartMs: Math.round(restartMs),
            boundMs: OUTAGE_CALL_BOUND_MS,
          }),
        );
      }
    }, 60_000);
  },
);
