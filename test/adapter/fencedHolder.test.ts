import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { currentFence, runInFenceScope } from '../../src/index.js';
import type { StorageAdapter } from '../../src/types.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { settle, sleep, withDeadline } from '../support/async.js';
import { ACCESS_KEY_ID, backend } from '../support/backend.js';
import { executeLikeCore, ReferenceConflictError } from '../support/coreReference.mjs';
import {
  event,
  killStartedProcesses,
  type ProcessLine,
  startLineProcess,
} from '../support/lineProcess.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

const FENCED_HOLDER = fileURLToPath(new URL('../support/fencedHolderProcess.mjs', import.meta.url));

/** dynalite has no TransactWriteItems; DynamoDB and DynamoDB Local do. */
const hasTransactions = backend !== 'dynalite';

/** Short leases, renewed every third: a stopped holder's lease lapses within a second. */
const LOCK_TTL = 1_000;
/** The core's options for the successors and retries: their waits outlast any holder's lease. */
const CORE_OPTIONS = { lockTtl: LOCK_TTL, lockTimeout: 3_000, lockPollInterval: 20 };
/** The mark's lifetime when `markTtlMs` is not set: the core's default `ttl`, 24 h. */
const DEFAULT_MARK_TTL_MS = 24 * 60 * 60 * 1000;

let env: TestTable;
let doc: DynamoDBDocumentClient;
beforeAll(async () => {
  env = await startTestTable();
  doc = DynamoDBDocumentClient.from(env.client);
});
afterAll(() => env.close());
afterEach(killStartedProcesses);

function startHolder(options: {
  key: string;
  adapterOptions: object;
  /** Writes the order through the fence (a transaction), else with a plain PutItem. */
  fence: boolean;
  /** Stores the handler's response in the fence's mark. */
  storeResponse?: boolean;
  /** Waits for "go" on stdin before writing the order. */
  gate?: boolean;
  /** After the commit, waits for a kill instead of going on to `set`. */
  holdAfterCommit?: boolean;
}) {
  const stdin = options.gate === true || options.holdAfterCommit === true;
  return startLineProcess(
    FENCED_HOLDER,
    {
      endpoint: env.endpoint,
      accessKeyId: ACCESS_KEY_ID,
      table: env.table,
      lockTtl: LOCK_TTL,
      ...options,
    },
    { stdin },
  );
}

/** The order items placed for `key` (outside the adapter's prefix, naming the key). */
async function ordersOf(key: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await doc.send(
    new ScanCommand({
      TableName: env.table,
      ConsistentRead: true,
      FilterExpression: '#orderKey = :key',
      ExpressionAttributeNames: { '#orderKey': 'orderKey' },
      ExpressionAttributeValues: { ':key': key },
    }),
  );
  return Items;
}

/**
 * A handler in the test process that places an order for `key`, through the fence (with its
 * response in the mark) or with a plain PutItem; it counts its runs.
 */
function orderHandler(key: string, fenced: boolean) {
  const runs = { count: 0 };
  const handler = async () => {
    runs.count += 1;
    const orderId = randomUUID();
    const item = { pk: `order#${key}#${orderId}`, sk: 'order', orderKey: key, orderId };
    const response = { orderId, by: 'test process' };
    if (fenced) {
      const fence = currentFence();
      await fence.send(doc, {
        TransactItems: [
          fence.item({ response: { response } }),
          { Put: { TableName: env.table, Item: item } },
        ],
      });
    } else {
      await doc.send(new PutCommand({ TableName: env.table, Item: item }));
    }
    return response;
  };
  return { runs, handler };
}

/** Runs `key` through the core stand-in in a fence scope of its own, as a request would. */
function executeInScope<T>(adapter: StorageAdapter, key: string, handler: () => Promise<T>) {
  return runInFenceScope(() => executeLikeCore(adapter, key, handler, CORE_OPTIONS));
}

const only = (lines: ProcessLine[], name: string) => lines.filter(event(name));

describe.each(ADAPTER_MODES)(
  'fenced effects with real holder processes ($mode mode)',
  ({ mode: adapterMode, options: adapterOptions }) => {
    const key = (name: string) => `${adapterMode}-${name}`;
    /** Reads through a default-mode adapter: probing claims nothing. */
    const reader = () => env.adapter();

    /**
     * A holder stopped (SIGSTOP) after it acquired and before it writes its order; once its
     * lease lapsed a successor runs the key through the core stand-in; then the holder goes on.
     */
    async function stalledHolderRun(name: string, fenced: boolean) {
      const holder = startHolder({ key: key(name), adapterOptions, fence: fenced, gate: true });
      await holder.next(event('handler'));
      holder.child.kill('SIGSTOP');
      // Stopped, it renews nothing: wait (claiming nothing) until its lease has lapsed.
      await reader().waitForLock(key(name), 5_000, 20);
      const successor = orderHandler(key(name), fenced);
      const successorResponse = await executeInScope(
        env.adapter(adapterOptions),
        key(name),
        successor.handler,
      );
      holder.send('go');
      holder.child.kill('SIGCONT');
      const [exitCode] = await withDeadline(10_000, 'stalled holder exit', holder.exited);
      return { holder, exitCode, successor, successorResponse };
    }

    it.runIf(hasTransactions)(
      "a holder stopped past its lease before its fenced transaction: the successor's order stands alone; resumed, the holder's transaction and set are rejected (lease-lost)",
      async () => {
        // Prepare / Act
        const { holder, exitCode, successor, successorResponse } = await stalledHolderRun(
          'stalled-fenced',
          true,
        );

        // Assess: the successor ran the key once and stored its record
        expect(successor.runs.count).toBe(1);
        expect(successorResponse).toMatchObject({ orderId: expect.any(String) });
        // The resumed holder's transaction was refused with the typed error, writing nothing ...
        expect(only(holder.lines, 'handlerFailed')).toMatchObject([
          { code: 'CONFLICT', reason: 'lease-lost' },
        ]);
        expect(only(holder.lines, 'committed')).toEqual([]);
        // ... and so was its set (of the error the core stores).
        expect(only(holder.lines, 'setRejected')).toMatchObject([
          { code: 'CONFLICT', reason: 'lease-lost' },
        ]);
        expect(only(holder.lines, 'set')).toEqual([]);
        expect(exitCode).toBe(0);
        // Exactly one order: the successor's.
        expect(await ordersOf(key('stalled-fenced'))).toMatchObject([
          { orderId: successorResponse.orderId },
        ]);
        expect((await reader().get(key('stalled-fenced')))?.response).toEqual(successorResponse);
      },
    );

    it('the same stalled holder with the fence unused (plain PutItem) places a second order: the duplicate the fence prevents', async () => {
      // Prepare / Act
      const { holder, exitCode, successor, successorResponse } = await stalledHolderRun(
        'stalled-plain',
        false,
      );

      // Assess: both executions placed their order ...
      expect(successor.runs.count).toBe(1);
      const [holderOrder] = only(holder.lines, 'committed');
      expect(holderOrder).toMatchObject({ orderId: expect.any(String) });
      const orders = await ordersOf(key('stalled-plain'));
      expect(orders).toHaveLength(2);
      expect(orders.map((order) => order.orderId).sort()).toEqual(
        [successorResponse.orderId, holderOrder?.orderId].sort(),
      );
      // ... though the stalled holder's set is still refused, leaving the successor's record.
      expect(only(holder.lines, 'setRejected')).toMatchObject([
        { code: 'CONFLICT', reason: 'lease-lost' },
      ]);
      expect(exitCode).toBe(0);
      expect((await reader().get(key('stalled-plain')))?.response).toEqual(successorResponse);
    });

    /** A holder killed (SIGKILL) between its fenced commit and its `set`. */
    async function killedAfterCommit(name: string, storeResponse: boolean) {
      const holder = startHolder({
        key: key(name),
        adapterOptions,
        fence: true,
        storeResponse,
        holdAfterCommit: true,
      });
      const committed = await holder.next(event('committed'));
      holder.child.kill('SIGKILL');
      const killedAt = Date.now();
      await holder.exited;
      return { holder, committed, killedAt };
    }

    /** Sleeps until a lease renewed no later than `killedAt` has surely lapsed. */
    const untilLapsed = (killedAt: number) =>
      sleep(Math.max(0, killedAt + LOCK_TTL + 100 - Date.now()));

    it.runIf(hasTransactions)(
      'a holder killed between its fenced commit and its set: retries never run the handler again and end with CONFLICT, before and after its lease lapsed',
      async () => {
        // Prepare
        const { committed, killedAt } = await killedAfterCommit('killed-no-response', false);
        const retry = orderHandler(key('killed-no-response'), true);

        // Act: at once (its lease still live: the wait outlasts it), then once it surely lapsed
        const first = await settle(
          executeInScope(env.adapter(adapterOptions), key('killed-no-response'), retry.handler),
        );
        await untilLapsed(killedAt);
        const second = await settle(
          executeInScope(env.adapter(adapterOptions), key('killed-no-response'), retry.handler),
        );

        // Assess
        for (const error of [first, second]) {
          expect(error).toBeInstanceOf(ReferenceConflictError);
          expect(error).toMatchObject({ code: 'CONFLICT' });
        }
        expect(retry.runs.count).toBe(0);
        expect(await ordersOf(key('killed-no-response'))).toMatchObject([
          { orderId: committed.orderId },
        ]);
        expect(await reader().get(key('killed-no-response'))).toBeNull();
      },
    );

    it.runIf(hasTransactions)(
      'a holder killed between its fenced commit (with the response) and its set: retries get that response without running the handler, and get answers it as the record',
      async () => {
        // Prepare
        const { holder, committed, killedAt } = await killedAfterCommit(
          'killed-with-response',
          true,
        );
        const retry = orderHandler(key('killed-with-response'), true);

        // Act: at once, then once its lease surely lapsed
        const first = await executeInScope(
          env.adapter(adapterOptions),
          key('killed-with-response'),
          retry.handler,
        );
        await untilLapsed(killedAt);
        const second = await executeInScope(
          env.adapter(adapterOptions),
          key('killed-with-response'),
          retry.handler,
        );
        const record = await reader().get(key('killed-with-response'));

        // Assess
        const response = { orderId: committed.orderId };
        expect(first).toEqual(response);
        expect(second).toEqual(response);
        expect(retry.runs.count).toBe(0);
        expect(await ordersOf(key('killed-with-response'))).toMatchObject([response]);
        expect(record).toEqual({
          response,
          statusCode: 201,
          headers: { location: `/orders/${committed.orderId}` },
          createdAt: expect.any(Number),
          ttl: DEFAULT_MARK_TTL_MS,
        });
        // Made at the commit: after the handler began, before the holder saw the commit.
        const [handlerStart] = only(holder.lines, 'handler');
        expect(record?.createdAt).toBeGreaterThanOrEqual(Number(handlerStart?.at));
        expect(record?.createdAt).toBeLessThanOrEqual(committed.at);
      },
    );

    it.runIf(!hasTransactions)(
      'on dynalite, which has no transactions, a holder using the fence fails at once (no-transactions) and places no order',
      async () => {
        // Prepare / Act
        const holder = startHolder({ key: key('no-transactions'), adapterOptions, fence: true });
        const [exitCode] = await withDeadline(10_000, 'holder exit', holder.exited);

        // Assess: refused at its first transaction, with nothing written
        const [handlerStart] = only(holder.lines, 'handler');
        const [failed] = only(holder.lines, 'handlerFailed');
        expect(failed).toMatchObject({ code: 'INVALID_CONFIG', reason: 'no-transactions' });
        expect(Number(failed?.at) - Number(handlerStart?.at)).toBeLessThan(LOCK_TTL);
        expect(only(holder.lines, 'committed')).toEqual([]);
        expect(await ordersOf(key('no-transactions'))).toEqual([]);
        // Its lock was its own throughout: the core's error record stored, the lock released.
        expect(holder.lines.map((line) => line.event)).toEqual(
          expect.arrayContaining(['set', 'released']),
        );
        expect(exitCode).toBe(0);
      },
    );
  },
);
