import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { Service } from 'electrodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import {
  currentFence,
  type Fence,
  fenceErrorReason,
  IdempotencyError,
  type IdempotencyRecord,
  runInFenceScope,
} from '../../src/index.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { createUserEntity } from '../support/appEntity.js';
import { settle, sleep, withDeadline } from '../support/async.js';
import { backend, createClient } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import {
  CORE_DEFAULTS,
  executeLikeCore,
  ReferenceConflictError,
} from '../support/coreReference.mjs';
import { loseNextResponse } from '../support/faults.js';
import { recordCommands } from '../support/requestCounter.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

// Every test below uses keys (and, where it counts requests, a client) of its own, so all run
// concurrently: most of their time is spent waiting for a short lease to lapse.

/** DynamoDB Local (and DynamoDB) implement TransactWriteItems; dynalite does not. */
const transactions = backend !== 'dynalite';

type AdapterOptions = Partial<ElectroDynamoAdapterOptions>;

/** A short lease a stalled or crashed holder lets lapse (renewal off). */
const SHORT_LEASE = 300;
/** Past a SHORT_LEASE taken no later than the moment it is counted from. */
const PAST_LEASE = SHORT_LEASE + 60;

let env: TestTable;
let reader: DynamoDBDocumentClient;
const clients: { destroy(): void }[] = [];
beforeAll(async () => {
  env = await startTestTable();
  reader = DynamoDBDocumentClient.from(env.client);
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await env.close();
});

/** The user's document client, on a client of its own whose requests are recorded. */
function userClient() {
  const client = createClient(env.endpoint);
  clients.push(client);
  const commands = recordCommands(client);
  return { doc: DynamoDBDocumentClient.from(client), commands };
}

/** The user's ElectroDB Service: their entity with the adapter's two joined. */
function appService(adapter: ElectroDynamoAdapter, doc: DynamoDBDocumentClient) {
  return new Service(
    {
      users: createUserEntity(doc, env.table),
      idempotencyRecords: adapter.entities.record,
      idempotencyLocks: adapter.entities.lock,
    },
    { client: doc, table: env.table },
  );
}

const sleepUntil = (epochMs: number) => sleep(Math.max(0, epochMs - Date.now()));
const record = (response: unknown, ttl = 60_000) => ({ response, createdAt: Date.now(), ttl });

/** The user's own item a fenced transaction writes. */
function orderPut(orderId: string, key: string, options: { onlyIfNew?: boolean } = {}) {
  return {
    Put: {
      TableName: env.table,
      Item: { pk: `order#${orderId}`, sk: 'order', key },
      ...(options.onlyIfNew ? { ConditionExpression: 'attribute_not_exists(pk)' } : {}),
    },
  };
}

async function readItem(pk: string, sk: string) {
  const { Item } = await reader.send(
    new GetCommand({ TableName: env.table, Key: { pk, sk }, ConsistentRead: true }),
  );
  return Item;
}

const readOrder = (orderId: string) => readItem(`order#${orderId}`, 'order');
/** The user's entity item, read through their entity. */
const readUser = async (userId: string) =>
  (await env.users.get({ userId }).go({ consistent: true })).data;
/** The key's idempotency item (lock, record or mark) as stored. */
const itemOf = (key: string) => readItem(`idem#${key}`, 'idem');

/** An adapter that acquired `key` (60 s lease) and committed a fence on it, and stored nothing. */
async function committedHolder(key: string, options: AdapterOptions) {
  const { doc } = userClient();
  const adapter = env.adapter(options);
  await runInFenceScope(async () => {
    expect(await claim(adapter, key, 60_000)).toBe(true);
    const fence = currentFence();
    await fence.send(doc, { TransactItems: [fence.item(), orderPut(`o-${key}`, key)] });
  });
  return adapter;
}

/** Every `set` the adapter is given, with its outcome (the core swallows an error record's failure). */
function recordSets(adapter: ElectroDynamoAdapter) {
  const stores: { record: IdempotencyRecord; error: unknown }[] = [];
  const set = adapter.set.bind(adapter);
  adapter.set = async (key, storedRecord) => {
    const error = await settle(set(key, storedRecord));
    stores.push({ record: storedRecord, error });
    if (error !== undefined) throw error;
  };
  return stores;
}

/** The core's claim: a get (which claims in claim-on-miss mode), then acquireLock. */
async function claim(adapter: ElectroDynamoAdapter, key: string, ttlMs: number) {
  expect(await adapter.get(key)).toBeNull();
  return adapter.acquireLock(key, ttlMs);
}

function expectLeaseLost(error: unknown) {
  expect(error).toBeInstanceOf(IdempotencyError);
  expect(error).toMatchObject({
    name: 'IdempotencyError',
    code: 'CONFLICT',
    context: expect.objectContaining({ reason: 'lease-lost' }),
  });
  expect((error as IdempotencyError).getStatusCode()).toBe(409);
  expect(fenceErrorReason(error)).toBe('lease-lost');
}

function expectInvalidConfig(error: unknown, reason: string) {
  expect(error).toBeInstanceOf(IdempotencyError);
  expect(error).toMatchObject({
    name: 'IdempotencyError',
    code: 'INVALID_CONFIG',
    context: expect.objectContaining({ reason }),
  });
  expect(fenceErrorReason(error)).toBe(reason);
}

/**
 * A holder that acquires `key` in a fence scope with a SHORT_LEASE it never renews, and hands
 * back its fence: the stalled or crashed execution of the tests below.
 */
async function stalledHolder(key: string, options: AdapterOptions = {}) {
  const adapter = env.adapter({ ...options, lockRenewal: false });
  return runInFenceScope(async () => {
    expect(await claim(adapter, key, SHORT_LEASE)).toBe(true);
    const acquiredAt = Date.now();
    return { adapter, fence: currentFence(), acquiredAt };
  });
}

describe.concurrent('fenceErrorReason', () => {
  it('is undefined for errors the fence did not throw', () => {
    expect(fenceErrorReason(new Error('other'))).toBeUndefined();
    expect(fenceErrorReason(new IdempotencyError('CONFLICT', 'x'))).toBeUndefined();
    expect(fenceErrorReason(undefined)).toBeUndefined();
  });
});

describe.concurrent.each(ADAPTER_MODES)('fenced set ($mode)', ({ mode, options }) => {
  it('a holder whose lease lapsed and was taken over: its late set rejects with CONFLICT lease-lost, the successor record stays', async () => {
    // Prepare: A's handler stalls past its lease; B takes the key over and completes
    const key = `late-set-${mode}`;
    const lost = recordEvents('leaseLost');
    const holder = env.adapter({ ...options, lockRenewal: false });
    let startHandler: (at: number) => void = () => {};
    const handlerStarted = new Promise<number>((resolve) => {
      startHandler = resolve;
    });
    let releaseA: () => void = () => {};
    const aMayReturn = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    const aFlow = settle(
      executeLikeCore(
        holder,
        key,
        async () => {
          startHandler(Date.now());
          await aMayReturn;
          return 'A';
        },
        { lockTtl: SHORT_LEASE },
      ),
    );
    // The handler runs once acquireLock has returned: the lease ends within SHORT_LEASE of it.
    await sleepUntil((await withDeadline(5_000, "A's handler", handlerStarted)) + PAST_LEASE);
    const bResult = await executeLikeCore(env.adapter(options), key, async () => 'B');

    // Act
    releaseA();
    const error = await aFlow;
    lost.stop();

    // Assess
    expect(bResult).toBe('B');
    expectLeaseLost(error);
    expect(await env.adapter().get(key)).toMatchObject({ response: 'B', ttl: CORE_DEFAULTS.ttl });
    expect(lost.forKey(key)).toEqual([
      { table: env.table, key, reason: 'replaced-by-record', heldMs: expect.any(Number) },
    ]);
    expect(lost.forKey(key)[0]?.heldMs).toBeGreaterThanOrEqual(SHORT_LEASE);
  });

  it('a holder whose lock was taken over: its set rejects with lease-lost and writes nothing; the successor then stores', async () => {
    // Prepare
    const key = `taken-lock-${mode}`;
    const lost = recordEvents('leaseLost');
    const { adapter: holder, acquiredAt } = await stalledHolder(key, options);
    await sleepUntil(acquiredAt + PAST_LEASE);
    const successor = env.adapter(options);
    expect(await claim(successor, key, 60_000)).toBe(true);
    const successorLock = await itemOf(key);

    // Act
    const error = await settle(holder.set(key, record('A')));
    lost.stop();

    // Assess
    expectLeaseLost(error);
    expect(await itemOf(key)).toEqual(successorLock);
    expect(lost.forKey(key)).toEqual([
      { table: env.table, key, reason: 'taken-over', heldMs: expect.any(Number) },
    ]);
    await successor.set(key, record('B'));
    expect((await env.adapter().get(key))?.response).toBe('B');
  });

  it('a holder whose successor released the key: its set rejects with lease-lost and leaves the key empty', async () => {
    // Prepare: B takes the key over, fails and releases it
    const key = `released-by-successor-${mode}`;
    const lost = recordEvents('leaseLost');
    const { adapter: holder, acquiredAt } = await stalledHolder(key, options);
    await sleepUntil(acquiredAt + PAST_LEASE);
    const successor = env.adapter(options);
    expect(await claim(successor, key, 60_000)).toBe(true);
    await successor.releaseLock(key);

    // Act
    const error = await settle(holder.set(key, record('A')));
    lost.stop();

    // Assess
    expectLeaseLost(error);
    expect(await itemOf(key)).toBeUndefined();
    expect(lost.forKey(key)).toEqual([
      { table: env.table, key, reason: 'removed', heldMs: expect.any(Number) },
    ]);
  });

  it('a holder whose lease lapsed with no successor still stores its record', async () => {
    // Prepare
    const key = `lapsed-alone-${mode}`;
    const { adapter: holder, acquiredAt } = await stalledHolder(key, options);
    await sleepUntil(acquiredAt + PAST_LEASE);

    // Act
    await holder.set(key, record('late but alone'));

    // Assess
    expect((await env.adapter().get(key))?.response).toBe('late but alone');
    expect(await env.adapter().acquireLock(key, 60_000)).toBe(false);
  });

  it('a set with no lock held overwrites as before: over a live lock and over a record', async () => {
    // Prepare
    const key = `unfenced-${mode}`;
    expect(await claim(env.adapter(options), key, 60_000)).toBe(true);
    const writer = env.adapter(options);

    // Act
    await writer.set(key, record('over the lock'));
    const first = await env.adapter().get(key);
    await env.adapter(options).set(key, record('over the record'));

    // Assess
    expect(first?.response).toBe('over the lock');
    expect((await env.adapter().get(key))?.response).toBe('over the record');
  });

  it('the holder setting twice (its own retry) stores the second record', async () => {
    // Prepare
    const key = `own-retry-${mode}`;
    const holder = env.adapter(options);
    expect(await claim(holder, key, 60_000)).toBe(true);
    await holder.set(key, record('first'));

    // Act
    await holder.set(key, record('second'));

    // Assess
    expect((await env.adapter().get(key))?.response).toBe('second');
  });

  it('a fenced set whose answer was lost and which the SDK retried resolves: no lease-lost', async () => {
    // Prepare
    const key = `lost-answer-${mode}`;
    const { client, adapter } = env.isolatedAdapter(options);
    expect(await claim(adapter, key, CORE_DEFAULTS.lockTtl)).toBe(true);
    const lost = recordEvents('leaseLost');
    const fault = loseNextResponse(client, (name) => name === 'PutItemCommand');

    // Act
    const error = await settle(adapter.set(key, record('once')));
    lost.stop();
    client.destroy();

    // Assess
    expect(fault.fired).toBe(true);
    expect(error).toBeUndefined();
    expect((await env.adapter().get(key))?.response).toBe('once');
    expect(lost.forKey(key)).toEqual([]);
  });
});

describe.concurrent('fence.item', () => {
  it("is a Put of the key's lock item, conditioned, carrying the holder's owner token", async () => {
    // Prepare
    const adapter = env.adapter();

    // Act
    const { put, lock } = await runInFenceScope(async () => {
      expect(await adapter.acquireLock('item-shape', 60_000)).toBe(true);
      return { put: currentFence().item().Put, lock: await itemOf('item-shape') };
    });

    // Assess
    expect(put).toMatchObject({
      TableName: env.table,
      Item: expect.objectContaining({ pk: 'idem#item-shape', sk: 'idem', cacheKey: 'item-shape' }),
      ConditionExpression: expect.any(String),
    });
    expect(typeof lock?.owner).toBe('string');
    expect(JSON.stringify(put)).toContain(String(lock?.owner));
    // Nothing is written by making the item.
    expect(await itemOf('item-shape')).toEqual(lock);
  });
});

describe.concurrent('fence without its item (item-missing)', () => {
  it('send rejects with INVALID_CONFIG item-missing and writes nothing', async () => {
    // Prepare
    const { doc, commands } = userClient();
    const adapter = env.adapter();

    // Act
    const error = await runInFenceScope(async () => {
      await adapter.acquireLock('send-missing', 60_000);
      return settle(
        currentFence().send(doc, { TransactItems: [orderPut('o-missing', 'send-missing')] }),
      );
    });

    // Assess
    expectInvalidConfig(error, 'item-missing');
    expect(commands.sent).toEqual([]);
    expect(await readOrder('o-missing')).toBeUndefined();
  });

  it('go rejects with INVALID_CONFIG item-missing and writes nothing', async () => {
    // Prepare
    const { doc, commands } = userClient();
    const adapter = env.adapter({ service: 'app' });
    const service = appService(adapter, doc);

    // Act
    const error = await runInFenceScope(async () => {
      await adapter.acquireLock('go-missing', 60_000);
      return settle(
        currentFence().go(
          service.transaction.write(({ users }) => [
            users.create({ userId: 'u-missing', name: 'Nobody' }).commit(),
          ]),
        ),
      );
    });

    // Assess
    expectInvalidConfig(error, 'item-missing');
    expect(commands.sent).toEqual([]);
    expect(await readUser('u-missing')).toBeNull();
  });
});

describe.runIf(!transactions).concurrent('fence on dynalite (no TransactWriteItems)', () => {
  /** Runs `attempt` with the fence of a fresh lock on `key`; its lock item before and after. */
  async function attemptWithFence(key: string, attempt: (fence: Fence) => Promise<unknown>) {
    const adapter = env.adapter({ service: 'app' });
    return runInFenceScope(async () => {
      expect(await adapter.acquireLock(key, 60_000)).toBe(true);
      const lockBefore = await itemOf(key);
      const startedAt = Date.now();
      const error = await settle(attempt(currentFence()));
      const elapsedMs = Date.now() - startedAt;
      return { adapter, error, elapsedMs, lockBefore, lockAfter: await itemOf(key) };
    });
  }

  it('send fails at once with INVALID_CONFIG no-transactions and writes nothing', async () => {
    // Prepare
    const { doc, commands } = userClient();

    // Act
    const { adapter, error, elapsedMs, lockBefore, lockAfter } = await attemptWithFence(
      'dynalite-send',
      (fence) =>
        fence.send(doc, { TransactItems: [fence.item(), orderPut('o-dynalite', 'dynalite-send')] }),
    );

    // Assess
    expectInvalidConfig(error, 'no-transactions');
    expect(elapsedMs).toBeLessThan(1_000);
    expect(commands.sent.map((c) => c.name)).toEqual(['TransactWriteItemsCommand']);
    expect(await readOrder('o-dynalite')).toBeUndefined();
    expect(lockAfter).toEqual(lockBefore);
    // No mark: once released, the key is free.
    await adapter.releaseLock('dynalite-send');
    expect(await env.adapter().acquireLock('dynalite-send', 60_000)).toBe(true);
  });

  it('go fails at once with INVALID_CONFIG no-transactions and writes nothing', async () => {
    // Prepare
    const { doc, commands } = userClient();
    const service = appService(env.adapter({ service: 'app' }), doc);

    // Act
    const { adapter, error, elapsedMs, lockBefore, lockAfter } = await attemptWithFence(
      'dynalite-go',
      (fence) =>
        fence.go(
          service.transaction.write(({ users }) => [
            users.create({ userId: 'u-dynalite', name: 'Ada' }).commit(),
            fence.commit(),
          ]),
        ),
    );

    // Assess
    expectInvalidConfig(error, 'no-transactions');
    expect(elapsedMs).toBeLessThan(1_000);
    expect(commands.sent.map((c) => c.name)).toEqual(['TransactWriteItemsCommand']);
    expect(await readUser('u-dynalite')).toBeNull();
    expect(lockAfter).toEqual(lockBefore);
    await adapter.releaseLock('dynalite-go');
    expect(await env.adapter().acquireLock('dynalite-go', 60_000)).toBe(true);
  });
});

describe.runIf(transactions).concurrent('fence.send (lib-dynamodb TransactWriteCommand)', () => {
  it("commits the user's item with the fence item; the core then stores its record", async () => {
    // Prepare
    const { doc, commands } = userClient();
    const adapter = env.adapter();

    // Act
    const result = await runInFenceScope(() =>
      executeLikeCore(adapter, 'send-commit', async () => {
        const fence = currentFence();
        await fence.send(doc, {
          TransactItems: [fence.item(), orderPut('o-commit', 'send-commit')],
        });
        return { orderId: 'o-commit' };
      }),
    );

    // Assess
    expect(result).toEqual({ orderId: 'o-commit' });
    expect(await readOrder('o-commit')).toEqual({
      pk: 'order#o-commit',
      sk: 'order',
      key: 'send-commit',
    });
    expect(commands.sent.map((c) => c.name)).toEqual(['TransactWriteItemsCommand']);
    expect(commands.sent[0]?.input.TransactItems).toHaveLength(2);
    expect(await env.adapter().get('send-commit')).toMatchObject({
      response: { orderId: 'o-commit' },
      ttl: CORE_DEFAULTS.ttl,
    });
  });

  it("a transaction resent after the SDK gave up on its lost answer commits once: the resend finds the fence's own commit and resolves", async () => {
    // Prepare: the first send commits, then its answer is lost with an error the SDK does not
    // retry, so the caller (a retry wrapper of its own) sends the same input again.
    const { doc } = userClient();
    const client = createClient(env.endpoint);
    clients.push(client);
    const lossy = DynamoDBDocumentClient.from(client);
    const adapter = env.adapter();
    const key = 'send-resent';
    const lost = loseNextResponse(
      client,
      (name) => name === 'TransactWriteItemsCommand',
      () => Object.assign(new Error('Injected lost answer'), { name: 'InjectedFailure' }),
    );

    // Act
    const outcome = await runInFenceScope(async () => {
      expect(await claim(adapter, key, 60_000)).toBe(true);
      const fence = currentFence();
      const input = {
        TransactItems: [
          fence.item(),
          { Put: { TableName: env.table, Item: { pk: 'order#resent', sk: 'order', n: 1 } } },
        ],
      };
      const first = await settle(fence.send(lossy, input));
      // The order is in; a resend would write it again were it not fenced by its commitId.
      await doc.send(
        new PutCommand({ TableName: env.table, Item: { pk: 'order#resent', sk: 'order', n: 0 } }),
      );
      const second = await settle(fence.send(lossy, input));
      await adapter.set(key, record('stored after the resend'));
      return { first, second };
    });

    // Assess: the resend wrote nothing (the order keeps what was put in between), and the
    // holder's set still stored
    expect(lost.fired).toBe(true);
    expect(outcome.first).toMatchObject({ name: 'InjectedFailure' });
    expect(outcome.second).toBeUndefined();
    expect(await readOrder('resent')).toEqual({ pk: 'order#resent', sk: 'order', n: 0 });
    expect((await env.adapter().get(key))?.response).toBe('stored after the resend');
  });

  it('a release that meets its own mark, committed by a transaction the adapter did not send, ends the lease: an execution then ends with CONFLICT at once', async () => {
    // Prepare: the fence's item sent by hand (not through fence.send): the adapter never saw it commit
    const { doc } = userClient();
    const adapter = env.adapter();
    const key = 'release-unseen-mark';
    await runInFenceScope(async () => {
      expect(await claim(adapter, key, 60_000)).toBe(true);
      const fence = currentFence();
      await doc.send(
        new TransactWriteCommand({ TransactItems: [fence.item(), orderPut('o-unseen', key)] }),
      );
    });

    // Act: the core's release after a failed set
    await adapter.releaseLock(key);
    let runs = 0;
    const execution = await settle(
      executeLikeCore(
        env.adapter(),
        key,
        async () => {
          runs += 1;
          return 'ran again';
        },
        { lockTimeout: 1_000, lockPollInterval: 20 },
      ),
    );

    // Assess: the mark stays, its lease is over
    const item = await itemOf(key);
    expect(item).toMatchObject({ owner: expect.any(String), markedUntil: expect.any(Number) });
    expect(Number(item?.validUntil)).toBeLessThanOrEqual(Date.now());
    expect(execution).toBeInstanceOf(ReferenceConflictError);
    expect(runs).toBe(0);
  });

  it('after a takeover rejects with CONFLICT lease-lost, writes nothing and publishes leaseLost', async () => {
    // Prepare
    const { doc } = userClient();
    const lost = recordEvents('leaseLost');
    const { fence, acquiredAt } = await stalledHolder('send-late');
    await sleepUntil(acquiredAt + PAST_LEASE);
    expect(await env.adapter().acquireLock('send-late', 60_000)).toBe(true);
    const successorLock = await itemOf('send-late');

    // Act
    const error = await settle(
      fence.send(doc, { TransactItems: [fence.item(), orderPut('o-late', 'send-late')] }),
    );
    lost.stop();

    // Assess
    expectLeaseLost(error);
    expect(await readOrder('o-late')).toBeUndefined();
    expect(await itemOf('send-late')).toEqual(successorLock);
    expect(lost.forKey('send-late')).toEqual([
      { table: env.table, key: 'send-late', reason: 'taken-over', heldMs: expect.any(Number) },
    ]);
  });

  it('a fence whose lease lapsed with no successor still commits, and marks the key', async () => {
    // Prepare
    const { doc } = userClient();
    const { fence, acquiredAt } = await stalledHolder('send-lapsed-alone');
    await sleepUntil(acquiredAt + PAST_LEASE);

    // Act
    const error = await settle(
      fence.send(doc, {
        TransactItems: [fence.item(), orderPut('o-lapsed-alone', 'send-lapsed-alone')],
      }),
    );

    // Assess
    expect(error).toBeUndefined();
    expect(await readOrder('o-lapsed-alone')).toMatchObject({ key: 'send-lapsed-alone' });
    expect(await env.adapter().acquireLock('send-lapsed-alone', 60_000)).toBe(false);
  });

  it('a fence kept past its own holder set rejects with lease-lost and writes nothing', async () => {
    // Prepare: the holder stores its record, which replaces its lock
    const { doc } = userClient();
    const adapter = env.adapter();
    const fence = await runInFenceScope(async () => {
      expect(await adapter.acquireLock('send-after-set', 60_000)).toBe(true);
      return currentFence();
    });
    await adapter.set('send-after-set', record('done'));

    // Act
    const error = await settle(
      fence.send(doc, { TransactItems: [fence.item(), orderPut('o-after-set', 'send-after-set')] }),
    );

    // Assess
    expectLeaseLost(error);
    expect(await readOrder('o-after-set')).toBeUndefined();
    expect((await env.adapter().get('send-after-set'))?.response).toBe('done');
  });

  it("a user's own failing condition rejects with the SDK's TransactionCanceledException unchanged, not lease-lost", async () => {
    // Prepare: the order already exists
    const { doc } = userClient();
    const existing = { pk: 'order#o-exists', sk: 'order', key: 'earlier' };
    await reader.send(new PutCommand({ TableName: env.table, Item: existing }));
    const adapter = env.adapter();

    // Act
    const error = await runInFenceScope(async () => {
      expect(await adapter.acquireLock('send-own-condition', 60_000)).toBe(true);
      const fence = currentFence();
      return settle(
        fence.send(doc, {
          TransactItems: [
            fence.item(),
            orderPut('o-exists', 'send-own-condition', { onlyIfNew: true }),
          ],
        }),
      );
    });

    // Assess
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect(error).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [
        expect.objectContaining({ Code: 'None' }),
        expect.objectContaining({ Code: 'ConditionalCheckFailed' }),
      ],
    });
    expect(fenceErrorReason(error)).toBeUndefined();
    expect(await readOrder('o-exists')).toEqual(existing);
    // Nothing committed, so no mark: the released key is free again.
    await adapter.releaseLock('send-own-condition');
    expect(await env.adapter().acquireLock('send-own-condition', 60_000)).toBe(true);
  });
});

describe.runIf(transactions).concurrent('fence.go (ElectroDB service.transaction.write)', () => {
  it("commits the user's item with the fence item and resolves with ElectroDB's result", async () => {
    // Prepare
    const { doc } = userClient();
    const adapter = env.adapter({ service: 'app' });
    const service = appService(adapter, doc);
    let outcome: { canceled: boolean; data: unknown[] } | undefined;

    // Act
    const result = await runInFenceScope(() =>
      executeLikeCore(adapter, 'go-commit', async () => {
        const fence = currentFence();
        outcome = await fence.go(
          service.transaction.write(({ users }) => [
            users.create({ userId: 'u-commit', name: 'Ada' }).commit(),
            fence.commit(),
          ]),
        );
        return { userId: 'u-commit' };
      }),
    );

    // Assess
    expect(result).toEqual({ userId: 'u-commit' });
    expect(outcome?.canceled).toBe(false);
    expect(outcome?.data).toHaveLength(2);
    expect(await readUser('u-commit')).toEqual({ userId: 'u-commit', name: 'Ada' });
    expect(await env.adapter().get('go-commit')).toMatchObject({
      response: { userId: 'u-commit' },
    });
  });

  it('after a takeover rejects with CONFLICT lease-lost and writes nothing', async () => {
    // Prepare
    const { doc } = userClient();
    const lost = recordEvents('leaseLost');
    const { adapter, fence, acquiredAt } = await stalledHolder('go-late', { service: 'app' });
    const service = appService(adapter, doc);
    await sleepUntil(acquiredAt + PAST_LEASE);
    expect(await env.adapter({ service: 'app' }).acquireLock('go-late', 60_000)).toBe(true);
    const successorLock = await itemOf('go-late');

    // Act
    const error = await settle(
      fence.go(
        service.transaction.write(({ users }) => [
          users.create({ userId: 'u-late', name: 'Late' }).commit(),
          fence.commit(),
        ]),
      ),
    );
    lost.stop();

    // Assess
    expectLeaseLost(error);
    expect(await readUser('u-late')).toBeNull();
    expect(await itemOf('go-late')).toEqual(successorLock);
    expect(lost.forKey('go-late')).toEqual([
      { table: env.table, key: 'go-late', reason: 'taken-over', heldMs: expect.any(Number) },
    ]);
  });

  it("a user's own failing condition resolves with { canceled: true } as ElectroDB does, not lease-lost", async () => {
    // Prepare: the user exists, so create() fails its attribute_not_exists condition
    const { doc } = userClient();
    await env.users.create({ userId: 'u-exists', name: 'First' }).go();
    const adapter = env.adapter({ service: 'app' });
    const service = appService(adapter, doc);

    // Act
    const outcome = await runInFenceScope(async () => {
      expect(await adapter.acquireLock('go-own-condition', 60_000)).toBe(true);
      const fence = currentFence();
      return fence.go(
        service.transaction.write(({ users }) => [
          users.create({ userId: 'u-exists', name: 'Second' }).commit(),
          fence.commit(),
        ]),
      );
    });

    // Assess
    expect(outcome.canceled).toBe(true);
    expect(outcome.data).toMatchObject([
      { rejected: true, code: 'ConditionalCheckFailed' },
      { rejected: false, code: 'None' },
    ]);
    expect(await readUser('u-exists')).toEqual({ userId: 'u-exists', name: 'First' });
    await adapter.releaseLock('go-own-condition');
    expect(await env.adapter().acquireLock('go-own-condition', 60_000)).toBe(true);
  });
});

describe.runIf(transactions).concurrent('marks (effects committed)', () => {
  describe.each(ADAPTER_MODES)('$mode', ({ mode, options }) => {
    it('after a commit and a crash, claims are refused past the lease; waiters and later executions end with CONFLICT without running the handler', async () => {
      // Prepare: the holder commits its fence, then dies before its set
      const key = `crash-${mode}`;
      const { doc } = userClient();
      const { fence, acquiredAt } = await stalledHolder(key, options);
      const sentAt = Date.now();
      await fence.send(doc, { TransactItems: [fence.item(), orderPut(`o-${key}`, key)] });
      const markedItem = await itemOf(key);
      let runs = 0;
      const handler = async () => {
        runs += 1;
        return 'ran again';
      };
      const waiting = settle(
        executeLikeCore(env.adapter(options), key, handler, {
          lockTimeout: 3_000,
          lockPollInterval: 20,
        }),
      );
      await sleepUntil(acquiredAt + PAST_LEASE);

      // Act
      const late = env.adapter(options);
      const lateGet = await late.get(key);
      const lateClaim = await late.acquireLock(key, 60_000);
      const laterExecution = await settle(
        executeLikeCore(env.adapter(options), key, handler, {
          lockTimeout: 1_000,
          lockPollInterval: 20,
        }),
      );

      // Assess
      expect(lateGet).toBeNull();
      expect(lateClaim).toBe(false);
      expect(laterExecution).toBeInstanceOf(ReferenceConflictError);
      expect(await waiting).toBeInstanceOf(ReferenceConflictError);
      expect(runs).toBe(0);
      expect(await readOrder(`o-${key}`)).toMatchObject({ key });
      // DynamoDB's TTL sweeper must not take the mark with the lease (default mark: 24 h).
      expect(Number(markedItem?.expiresAt)).toBeGreaterThanOrEqual(
        Math.floor((sentAt + CORE_DEFAULTS.ttl) / 1000),
      );
    });

    it('a holder that releases after its commit without storing a record leaves the key closed', async () => {
      // Prepare: the holder commits, then its set fails and the core releases
      const key = `released-after-commit-${mode}`;
      const adapter = await committedHolder(key, options);

      // Act
      await adapter.releaseLock(key);

      // Assess
      const late = env.adapter(options);
      expect(await late.get(key)).toBeNull();
      expect(await late.acquireLock(key, 60_000)).toBe(false);
    });

    it('after such a release, an execution ends with CONFLICT at once, without waiting out the released lease or running the handler', async () => {
      // Prepare: released well before its 60 s lease would end
      const key = `waiter-after-release-${mode}`;
      const adapter = await committedHolder(key, options);
      await adapter.releaseLock(key);
      let runs = 0;

      // Act
      const execution = await settle(
        executeLikeCore(
          env.adapter(options),
          key,
          async () => {
            runs += 1;
            return 'ran again';
          },
          { lockTimeout: 1_000, lockPollInterval: 20 },
        ),
      );

      // Assess
      expect(execution).toBeInstanceOf(ReferenceConflictError);
      expect(runs).toBe(0);
    });

    it('renewals after the commit keep the mark: once the holder stops, the key stays closed past its lease', async () => {
      // Prepare: a live holder (renewal on) commits, runs on for a few renewals, then dies
      // before its set. Its lease is long enough for renewals to keep up on a slow machine.
      const key = `renewed-after-commit-${mode}`;
      const lease = 900;
      const { doc } = userClient();
      const adapter = env.adapter(options);
      await runInFenceScope(async () => {
        expect(await claim(adapter, key, lease)).toBe(true);
        const fence = currentFence();
        await fence.send(doc, { TransactItems: [fence.item(), orderPut(`o-${key}`, key)] });
      });
      const committedAt = Date.now();
      const renewed = recordEvents('leaseRenewed');
      await sleep(lease + 100);
      await adapter.disconnect();
      await sleep(50);
      renewed.stop();
      const leaseEnd = Math.max(
        committedAt + lease,
        ...renewed.forKey(key).map((e) => e.validUntil),
      );

      // Act
      await sleepUntil(leaseEnd + 60);
      const late = env.adapter(options);
      const lateGet = await late.get(key);
      const lateClaim = await late.acquireLock(key, 60_000);

      // Assess
      expect(renewed.forKey(key).length).toBeGreaterThan(0);
      expect(lateGet).toBeNull();
      expect(lateClaim).toBe(false);
    });

    it('a response in the fence is what get returns as the record, and an execution returns it without running the handler', async () => {
      // Prepare
      const key = `fenced-response-${mode}`;
      const { doc } = userClient();
      const response = { orderId: `o-${key}` };
      const headers = { location: `/orders/o-${key}` };
      const markTtlMs = 3_600_000;
      const before = Date.now();
      const { fence, acquiredAt } = await stalledHolder(key, { ...options, markTtlMs });
      await fence.send(doc, {
        TransactItems: [
          fence.item({ response: { response, statusCode: 201, headers } }),
          orderPut(`o-${key}`, key),
        ],
      });
      const after = Date.now();
      let runs = 0;

      // Act
      const whileLeaseRuns = await env.adapter(options).get(key);
      await sleepUntil(acquiredAt + PAST_LEASE);
      const replayed = await executeLikeCore(env.adapter(options), key, async () => {
        runs += 1;
        return 'ran again';
      });
      const afterLease = await env.adapter(options).get(key);

      // Assess
      expect(whileLeaseRuns).toEqual({
        response,
        statusCode: 201,
        headers,
        createdAt: expect.any(Number),
        ttl: markTtlMs,
      });
      expect(whileLeaseRuns?.createdAt).toBeGreaterThanOrEqual(before);
      expect(whileLeaseRuns?.createdAt).toBeLessThanOrEqual(after);
      expect(replayed).toEqual(response);
      expect(runs).toBe(0);
      expect(afterLease).toEqual(whileLeaseRuns);
      expect(await env.adapter().acquireLock(key, 60_000)).toBe(false);
    });

    it("the core's set after the commit replaces the mark with the core's record", async () => {
      // Prepare
      const key = `set-after-commit-${mode}`;
      const { doc } = userClient();
      const adapter = env.adapter(options);
      const before = Date.now();

      // Act
      const result = await runInFenceScope(() =>
        executeLikeCore(adapter, key, async () => {
          const fence = currentFence();
          await fence.send(doc, {
            TransactItems: [
              fence.item({ response: { response: { fenced: true }, statusCode: 202 } }),
              orderPut(`o-${key}`, key),
            ],
          });
          return { core: true };
        }),
      );
      const after = Date.now();
      let runs = 0;
      const replayed = await executeLikeCore(env.adapter(options), key, async () => {
        runs += 1;
        return 'ran again';
      });

      // Assess
      expect(result).toEqual({ core: true });
      const stored = await env.adapter(options).get(key);
      expect(stored).toEqual({
        response: { core: true },
        createdAt: expect.any(Number),
        ttl: CORE_DEFAULTS.ttl,
      });
      expect(stored?.createdAt).toBeGreaterThanOrEqual(before);
      expect(stored?.createdAt).toBeLessThanOrEqual(after);
      expect(replayed).toEqual({ core: true });
      expect(runs).toBe(0);
    });

    it('an error record stored after the commit expires, yet the key refuses claims until the mark ends, then reopens', async () => {
      // Prepare: a handler that commits, then fails; the core stores a short error record
      const key = `error-after-commit-${mode}`;
      const markTtlMs = 2_000;
      const { doc } = userClient();
      const adapter = env.adapter({ ...options, markTtlMs });
      const stores = recordSets(adapter);
      let sentAt = 0;
      let committedBy = 0;
      const failure = await settle(
        runInFenceScope(() =>
          executeLikeCore(
            adapter,
            key,
            async () => {
              const fence = currentFence();
              sentAt = Date.now();
              await fence.send(doc, {
                TransactItems: [fence.item(), orderPut(`o-${key}`, key)],
              });
              committedBy = Date.now();
              throw new Error('failed after commit');
            },
            { lockTtl: SHORT_LEASE },
          ),
        ),
      );
      const errorRecordEnd = Number(stores[0]?.record.createdAt) + SHORT_LEASE;
      const errorItem = await itemOf(key);

      // Act
      await sleepUntil(errorRecordEnd + 100);
      const probe = env.adapter({ ...options, markTtlMs });
      const getDuringMark = await probe.get(key);
      const claimDuringMark = await probe.acquireLock(key, 60_000);
      const probedBy = Date.now();
      await sleepUntil(committedBy + markTtlMs + 150);
      const reopened = env.adapter({ ...options, markTtlMs });
      const claimAfterMark = await claim(reopened, key, 60_000);

      // Assess
      expect(failure).toMatchObject({ message: 'failed after commit' });
      expect(stores).toEqual([
        {
          record: {
            response: expect.objectContaining({
              '@@idempotency/error': true,
              message: 'failed after commit',
            }),
            createdAt: expect.any(Number),
            ttl: SHORT_LEASE,
          },
          error: undefined,
        },
      ]);
      // The TTL sweeper keeps the error record until the mark's end.
      expect(Number(errorItem?.expiresAt)).toBeGreaterThanOrEqual(
        Math.floor((sentAt + markTtlMs) / 1000),
      );
      // The probe ran after the error record's end and before the mark's.
      expect(probedBy).toBeLessThan(sentAt + markTtlMs);
      expect(getDuringMark).toBeNull();
      expect(claimDuringMark).toBe(false);
      expect(claimAfterMark).toBe(true);
    });
  });
});
