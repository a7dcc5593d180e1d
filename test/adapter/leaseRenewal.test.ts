import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { sleep } from '../support/async.js';
import { createClient, returnsItemOnConditionFailure } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { failCommands, loseNextResponse } from '../support/faults.js';
import { isRecordPut, isRenewal, OWNER_UNMARKED_CONDITION } from '../support/requestKinds.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const renewed = recordEvents('leaseRenewed');
const lost = recordEvents('leaseLost');
const capped = recordEvents('holdCapReached');
const storageErrors = recordEvents('storageError');
afterAll(() => {
  for (const recorder of [renewed, lost, capped, storageErrors]) recorder.stop();
});

// Long enough that a renewal delayed by a busy machine still lands within its lease (the README's
// advice: more than three times the slowest request plus the longest event-loop stall).
const TTL = 600;
/** Renewal runs every third of the ttl: a window that spans several of them. */
const SEVERAL_RENEWALS = TTL * 2;

async function itemOf(key: string): Promise<Record<string, unknown> | undefined> {
  return (await env.scan()).find((item) => item.cacheKey === key);
}

/** Renewal puts this run has sent for `key`. */
const renewalsOf = (key: string) =>
  env.commands.sent.filter(
    ({ name, input }) =>
      isRenewal(name, input) && (input.Item as { cacheKey?: unknown }).cacheKey === key,
  );

/** Commands this run has sent for `key`: other tests' locks renew on the same client meanwhile. */
const commandsFor = (key: string) =>
  env.commands.sent.filter(
    ({ input }) =>
      ((input.Key ?? input.Item) as { pk?: unknown } | undefined)?.pk === `idem#${key}`,
  );

/** Resolves once `condition` holds, polling; rejects after `ms`. */
async function eventually(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${ms} ms`);
    await sleep(10);
  }
}

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 3_600_000 });

const held: ElectroDynamoAdapter[] = [];
beforeEach(() => env.commands.reset());
afterEach(() => {
  held.length = 0;
});

describe('ElectroDynamoAdapter lease renewal', () => {
  it('keeps a live holder’s lock past its ttl with puts conditioned on its owner token', async () => {
    // Prepare
    const holder = env.adapter();
    expect(await holder.acquireLock('renew-live', TTL)).toBe(true);
    const claimed = await itemOf('renew-live');

    // Act
    await sleep(TTL * 3);

    // Assess
    expect(await env.adapter().acquireLock('renew-live', 60_000)).toBe(false);
    const now = await itemOf('renew-live');
    expect(now?.owner).toBe(claimed?.owner);
    expect(Number(now?.validUntil)).toBeGreaterThan(Number(claimed?.validUntil));
    const renewals = renewalsOf('renew-live');
    expect(renewals.length).toBeGreaterThanOrEqual(4);
    expect(renewals[0]?.input).toMatchObject({
      TableName: env.table,
      ConditionExpression: OWNER_UNMARKED_CONDITION,
      ExpressionAttributeNames: { '#owner': 'owner', '#markedUntil': 'markedUntil' },
      ExpressionAttributeValues: { ':owner0': claimed?.owner },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      Item: { pk: 'idem#renew-live', sk: 'idem', owner: claimed?.owner },
    });
    // A renewal may commit before the scan and publish its event just after it.
    const scanned = Number(now?.validUntil);
    await eventually(
      () => renewed.forKey('renew-live').some((event) => event.validUntil >= scanned),
      2_000,
    );
    await holder.releaseLock('renew-live');
    const events = renewed.forKey('renew-live');
    expect(events.map((event) => event.renewals)).toEqual(
      Array.from({ length: events.length }, (_, i) => i + 1),
    );
    expect(events.find((event) => event.validUntil === scanned)).toMatchObject({
      table: env.table,
      key: 'renew-live',
    });
  });

  it.each([
    ['set', (adapter: ElectroDynamoAdapter, key: string) => adapter.set(key, record('done'))],
    ['releaseLock', (adapter: ElectroDynamoAdapter, key: string) => adapter.releaseLock(key)],
  ] as const)('stops at %s', async (operation, end) => {
    // Prepare
    const key = `renew-stop-${operation}`;
    const holder = env.adapter();
    await holder.acquireLock(key, TTL);
    await sleep(TTL * 0.75);
    expect(renewalsOf(key).length).toBeGreaterThanOrEqual(1);

    // Act
    await end(holder, key);
    const sentAtEnd = renewalsOf(key).length;
    await sleep(SEVERAL_RENEWALS);

    // Assess
    expect(renewalsOf(key).length).toBe(sentAtEnd);
    expect(lost.forKey(key)).toEqual([]);
  });

  it.each([
    [
      'taken-over',
      (key: string) =>
        env.client.send(
          new PutItemCommand({
            TableName: env.table,
            Item: {
              pk: { S: `idem#${key}` },
              sk: { S: 'idem' },
              cacheKey: { S: key },
              owner: { S: 'someone-else' },
              validUntil: { N: String(Date.now() + 60_000) },
              __edb_e__: { S: 'idempotencyLock' },
              __edb_v__: { S: '1' },
            },
          }),
        ),
    ],
    ['replaced-by-record', (key: string) => env.adapter().set(key, record('elsewhere'))],
    [
      'removed',
      (key: string) =>
        env.client.send(
          new DeleteItemCommand({
            TableName: env.table,
            Key: { pk: { S: `idem#${key}` }, sk: { S: 'idem' } },
          }),
        ),
    ],
  ] as const)('stops and reports the lease lost when the key is %s', async (reason, replace) => {
    // Prepare
    const key = `renew-lost-${reason}`;
    const holder = env.adapter();
    await holder.acquireLock(key, TTL);
    const before = await itemOf(key);

    // Act
    await replace(key);
    const renewalsBeforeLoss = renewalsOf(key).length;
    await sleep(SEVERAL_RENEWALS);
    const renewalsAfterLoss = renewalsOf(key).length - renewalsBeforeLoss;
    const item = await itemOf(key);
    env.commands.reset();
    await holder.releaseLock(key);
    await sleep(TTL);

    // Assess
    expect(lost.forKey(key)).toEqual([
      { table: env.table, key, reason, heldMs: expect.any(Number) },
    ]);
    expect(renewalsAfterLoss).toBe(1);
    // The release knew the lock was no longer ours: nothing sent, and what holds the key stays.
    expect(commandsFor(key)).toEqual([]);
    expect(await itemOf(key)).toEqual(item);
    expect(item?.owner).not.toBe(before?.owner);
  });

  it('stops at the hold cap, after which the lease lapses', async () => {
    // Prepare
    const maxHoldMs = TTL * 3;
    const holder = env.adapter({ lockRenewal: { maxHoldMs } });
    const acquiredAt = Date.now();
    await holder.acquireLock('renew-cap', TTL);

    // Act
    await sleep(maxHoldMs - TTL / 2);
    const beforeCap = await env.adapter().acquireLock('renew-cap', 60_000);
    await env.adapter().waitForLock('renew-cap', 5_000, 10);
    const lapsedAt = Date.now();

    // Assess: held past its ttl up to the cap, lapsed at the cap
    const [cap] = capped.forKey('renew-cap');
    expect(capped.forKey('renew-cap')).toHaveLength(1);
    expect(cap).toMatchObject({ table: env.table, maxHoldMs });
    expect(cap?.validUntil).toBeGreaterThanOrEqual(acquiredAt + maxHoldMs);
    expect(cap?.validUntil).toBeLessThan(acquiredAt + maxHoldMs + 50);
    expect(beforeCap).toBe(false);
    expect(lapsedAt).toBeGreaterThanOrEqual(cap?.validUntil ?? Number.NaN);
    expect(lapsedAt - acquiredAt).toBeLessThan(maxHoldMs + TTL);
    expect(await env.adapter().acquireLock('renew-cap', 60_000)).toBe(true);
    await holder.releaseLock('renew-cap');
  });

  it('does not report the lease lost when a renewal in flight meets the holder’s own record', async () => {
    // Prepare: the next renewal is held back until the holder's set has committed, and the set's
    // answer until the renewal's rejection has come back: the renewal meets our own record.
    const key = 'renew-own-record';
    const client = createClient(env.endpoint);
    const holder = env.adapter({ client });
    let renewalReached!: () => void;
    const renewalAtGate = new Promise<void>((resolve) => {
      renewalReached = resolve;
    });
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let renewalAnswered!: () => void;
    const renewalDone = new Promise<void>((resolve) => {
      renewalAnswered = resolve;
    });
    let held = false;
    // The renewal's verdict needs its put, and on dynalite, which returns no item with the
    // rejection, the read that follows it.
    const renewalRequests = returnsItemOnConditionFailure ? 1 : 2;
    let answered = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const recordPut = isRecordPut(String(context.commandName), input);
        if (!held && isRenewal(String(context.commandName), input)) {
          held = true;
          renewalReached();
          await gate;
        }
        if (recordPut) {
          const output = await next(args);
          openGate();
          await renewalDone;
          return output;
        }
        try {
          return await next(args);
        } finally {
          if (held && ++answered === renewalRequests) setImmediate(renewalAnswered);
        }
      },
      { step: 'initialize', name: 'renewalRace' },
    );
    await holder.acquireLock(key, TTL);
    await renewalAtGate;

    // Act
    await holder.set(key, record('ours'));
    await sleep(SEVERAL_RENEWALS);

    // Assess
    expect(lost.forKey(key)).toEqual([]);
    expect((await env.adapter().get(key))?.response).toBe('ours');
    client.destroy();
  });

  it('goes on renewing after a set that failed, until the release', async () => {
    // Prepare
    const key = 'renew-failed-set';
    const holder = env.adapter();
    await holder.acquireLock(key, TTL);
    const failing = failCommands(env.client, isRecordPut, {
      name: 'InternalServerError',
      message: 'Injected store failure',
    });

    // Act
    const stored = await holder.set(key, record('lost')).then(
      () => 'stored',
      (error: unknown) => error,
    );
    failing.enabled = false;
    const renewalsAtFailure = renewalsOf(key).length;
    await sleep(SEVERAL_RENEWALS);

    // Assess
    expect(stored).toMatchObject({ code: 'STORAGE_ERROR' });
    expect(renewalsOf(key).length).toBeGreaterThan(renewalsAtFailure);
    expect(await env.adapter().acquireLock(key, 60_000)).toBe(false);
    expect(lost.forKey(key)).toEqual([]);
    await holder.releaseLock(key);
    expect(await env.adapter().acquireLock(key, 60_000)).toBe(true);
  });

  it('stops at disconnect, after which the lease lapses; connect lets new locks renew again', async () => {
    // Prepare
    const holder = env.adapter();
    await holder.acquireLock('renew-disconnect', TTL);

    // Act
    await holder.disconnect();
    const sentAtDisconnect = renewalsOf('renew-disconnect').length;
    await sleep(TTL + 100);
    await holder.connect();
    await holder.acquireLock('renew-reconnect', TTL);
    await sleep(SEVERAL_RENEWALS);

    // Assess
    expect(renewalsOf('renew-disconnect').length).toBe(sentAtDisconnect);
    expect(await env.adapter().acquireLock('renew-disconnect', 60_000)).toBe(true);
    expect(renewalsOf('renew-reconnect').length).toBeGreaterThan(0);
    await holder.releaseLock('renew-reconnect');
  });

  it('is off with lockRenewal: false: the lease lapses after its ttl', async () => {
    // Prepare
    const holder = env.adapter({ lockRenewal: false });
    await holder.acquireLock('renew-off', TTL);

    // Act
    await sleep(TTL + 50);

    // Assess
    expect(renewalsOf('renew-off')).toEqual([]);
    expect(await env.adapter().acquireLock('renew-off', 60_000)).toBe(true);
  });

  it('retries a renewal that fails with a storage error while the lease is valid', async () => {
    // Prepare: renewals fail for about half a ttl
    const holder = env.adapter();
    const failing = failCommands(env.client, isRenewal, {
      name: 'InternalServerError',
      message: 'Injected renewal failure',
    });
    await holder.acquireLock('renew-retry', TTL);
    await sleep(TTL / 2);
    failing.enabled = false;

    // Act
    await sleep(SEVERAL_RENEWALS);

    // Assess: the lease never lapsed, and renewals resumed
    expect(await env.adapter().acquireLock('renew-retry', 60_000)).toBe(false);
    expect(renewed.forKey('renew-retry').length).toBeGreaterThanOrEqual(2);
    expect(storageErrors.forKey('renew-retry')[0]).toMatchObject({
      table: env.table,
      operation: 'renewLock',
      error: { name: 'InternalServerError' },
    });
    expect(lost.forKey('renew-retry')).toEqual([]);
    await holder.releaseLock('renew-retry');
  });

  it('reports the lease lapsed when renewals fail until it ends, and its release still sends', async () => {
    // Prepare
    const holder = env.adapter();
    const failing = failCommands(env.client, isRenewal);
    await holder.acquireLock('renew-lapse', TTL);

    // Act
    await sleep(TTL + 100);
    failing.enabled = false;
    await sleep(TTL);
    const renewalsAfter = renewalsOf('renew-lapse').length;
    await sleep(TTL);

    // Assess
    expect(lost.forKey('renew-lapse')).toMatchObject([{ reason: 'lapsed' }]);
    expect(renewalsOf('renew-lapse').length).toBe(renewalsAfter);
    env.commands.reset();
    await holder.releaseLock('renew-lapse');
    expect(commandsFor('renew-lapse').map(({ name }) => name)).toEqual(['DeleteItemCommand']);
    expect(await itemOf('renew-lapse')).toBeUndefined();
  });

  it('resolves an ambiguous renewal by its owner token: the retry meets its own lock', async () => {
    // Prepare
    const holder = env.adapter();
    const fault = loseNextResponse(env.client, isRenewal);
    await holder.acquireLock('renew-ambiguous', TTL);

    // Act
    await sleep(SEVERAL_RENEWALS);

    // Assess
    expect(fault.fired).toBe(true);
    expect(lost.forKey('renew-ambiguous')).toEqual([]);
    expect(await env.adapter().acquireLock('renew-ambiguous', 60_000)).toBe(false);
    await holder.releaseLock('renew-ambiguous');
    expect(await env.adapter().acquireLock('renew-ambiguous', 60_000)).toBe(true);
  });
});

describe('ElectroDynamoAdapter lease renewal through the core sequence', () => {
  it('runs a handler four times slower than lockTtl once, for callers arriving while it runs', async () => {
    // Prepare
    const lockTtl = TTL;
    let executions = 0;
    const handler = async () => {
      executions += 1;
      await sleep(lockTtl * 4);
      return { run: executions };
    };
    const options = { lockTtl, lockTimeout: lockTtl * 10, lockPollInterval: 20 };

    // Act: callers at 0, 0.7, 1.3, 1.9 and 3.1 lock lifetimes
    const callers = [0, 0.7, 1.3, 1.9, 3.1].map(async (at) => {
      await sleep(at * lockTtl);
      return executeLikeCore(env.adapter(), 'slow-core', handler, options);
    });
    const results = await Promise.all(callers);

    // Assess
    expect(executions).toBe(1);
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ run: 1 })));
  });

  it('gives a waiter LOCK_TIMEOUT, not a second execution, when the replay comes after its lockTimeout', async () => {
    // Prepare
    const lockTtl = TTL;
    let executions = 0;
    const handler = async () => {
      executions += 1;
      await sleep(lockTtl * 4);
      return 'slow';
    };
    const first = executeLikeCore(env.adapter(), 'slow-timeout', handler, {
      lockTtl,
      lockTimeout: 60_000,
    });
    await sleep(50);

    // Act
    const waiter = executeLikeCore(env.adapter(), 'slow-timeout', handler, {
      lockTtl,
      lockTimeout: lockTtl * 2,
      lockPollInterval: 20,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(await waiter).toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(await first).toBe('slow');
    expect(executions).toBe(1);
  });
});

describe('ElectroDynamoAdapter per-key state', () => {
  it('keeps nothing per key once flows end, whether their handlers return or throw', async () => {
    // Prepare: 40 keys, 3 callers each on one instance (claims, waits, replays), half throwing
    const adapter = env.adapter();
    const flows = Array.from({ length: 40 }, (_, index) =>
      Array.from({ length: 3 }, () =>
        executeLikeCore(
          adapter,
          `state-${index}`,
          async () => {
            await sleep(5);
            if (index % 2 === 1) throw new Error(`handler ${index} failed`);
            return index;
          },
          { lockTtl: TTL, lockPollInterval: 5 },
        ).catch(() => undefined),
      ),
    );

    // Act
    await Promise.all(flows.flat());

    // Assess
    const keys = (adapter as unknown as { keys: { size: number } }).keys;
    expect(keys.size).toBe(0);
    const stateRenewals = () =>
      env.commands.sent.filter(
        ({ name, input }) =>
          isRenewal(name, input) &&
          String((input.Item as { cacheKey?: unknown }).cacheKey).startsWith('state-'),
      ).length;
    const renewalsAtEnd = stateRenewals();
    await sleep(TTL);
    // No timer outlived its flow.
    expect(stateRenewals()).toBe(renewalsAtEnd);
  });
});
