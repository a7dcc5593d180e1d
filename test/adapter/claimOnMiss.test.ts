import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../support/async.js';
import { returnsItemOnConditionFailure } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import {
  CORE_DEFAULTS,
  executeLikeCore,
  ReferenceConflictError,
} from '../support/coreReference.mjs';
import { failCommands, loseNextResponse } from '../support/faults.js';
import { recordCommands } from '../support/requestCounter.js';
import { CLAIM_CONDITION, OWNER_UNMARKED_CONDITION } from '../support/requestKinds.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
beforeEach(() => env.commands.reset());

/** A lost claim is answered by the rejection where the server returns the item, else a read. */
const LOST_CLAIM = returnsItemOnConditionFailure
  ? ['PutItemCommand']
  : ['PutItemCommand', 'GetItemCommand'];

const isolatedClaimingAdapter = () => env.isolatedAdapter({ claimOnMiss: true });

const claiming = (options: { lockTtlMs?: number } | true = true) =>
  env.adapter({ claimOnMiss: options });
const names = () => env.commands.sent.map((c) => c.name);
const itemOf = async (key: string) => (await env.scan()).find((item) => item.cacheKey === key);
const record = (response: unknown, ttl = 3_600_000) => ({ response, createdAt: Date.now(), ttl });
/** The `validUntil` a lock put wrote. */
const leaseEndOf = (input: Record<string, unknown> | undefined) =>
  Number((input?.Item as { validUntil?: unknown } | undefined)?.validUntil);

describe('ElectroDynamoAdapter with claimOnMiss: requests per flow (core call sequence)', () => {
  it('a first execution with the core defaults sends 2 requests: the claim (from get) and the record put', async () => {
    // Prepare
    const adapter = claiming();

    // Act
    const result = await executeLikeCore(adapter, 'first', async () => ({ ok: true }));

    // Assess
    expect(result).toEqual({ ok: true });
    expect(names()).toEqual(['PutItemCommand', 'PutItemCommand']);
    const [claim, store] = env.commands.sent.map((c) => c.input);
    expect(claim).toMatchObject({
      TableName: env.table,
      ConditionExpression: CLAIM_CONDITION,
      ExpressionAttributeNames: { '#validUntil': 'validUntil', '#markedUntil': 'markedUntil' },
      Item: { pk: 'idem#first', sk: 'idem', __edb_e__: 'idempotencyLock' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    // Its lease is the core's default lockTtl, so acquireLock had nothing to correct.
    expect(leaseEndOf(claim) - Date.now()).toBeGreaterThan(CORE_DEFAULTS.lockTtl - 2_000);
    expect(store).toMatchObject({
      Item: { pk: 'idem#first', __edb_e__: 'idempotencyRecord' },
    });
  });

  it('with a fixed lockTtl, the first execution corrects the lease once and every later one sends 2', async () => {
    // Prepare
    const adapter = claiming();
    const options = { lockTtl: 5_000 };

    // Act
    await executeLikeCore(adapter, 'fixed-ttl-1', async () => 1, options);
    const first = names();
    env.commands.reset();
    await executeLikeCore(adapter, 'fixed-ttl-2', async () => 2, options);
    const second = env.commands.sent.map((c) => c.input);

    // Assess: the correction is a put conditioned on the claim's owner token
    expect(first).toEqual(['PutItemCommand', 'PutItemCommand', 'PutItemCommand']);
    expect(second).toHaveLength(2);
    const validUntil = leaseEndOf(second[0]);
    expect(validUntil - Date.now()).toBeLessThanOrEqual(5_000);
    expect(validUntil - Date.now()).toBeGreaterThan(4_000);
  });

  it('with claimOnMiss.lockTtlMs equal to the core lockTtl, even the first execution sends 2', async () => {
    // Act
    await executeLikeCore(claiming({ lockTtlMs: 5_000 }), 'stated-ttl', async () => 1, {
      lockTtl: 5_000,
    });

    // Assess
    expect(names()).toEqual(['PutItemCommand', 'PutItemCommand']);
  });

  it('a replay is one rejected claim that returns the record (a read after it where the backend returns no item)', async () => {
    // Prepare
    await executeLikeCore(claiming(), 'replay', async () => ({ stored: true }));
    const before = await itemOf('replay');
    env.commands.reset();
    let ran = false;

    // Act
    const result = await executeLikeCore(claiming(), 'replay', async () => {
      ran = true;
      return { stored: false };
    });

    // Assess
    expect(result).toEqual({ stored: true });
    expect(ran).toBe(false);
    expect(names()).toEqual(LOST_CLAIM);
    expect(await itemOf('replay')).toEqual(before);
  });

  it('a claim lost to a live lock answers get null and the next acquireLock false without a request', async () => {
    // Prepare
    expect(await env.adapter().acquireLock('held-elsewhere', 60_000)).toBe(true);
    const adapter = claiming();
    env.commands.reset();

    // Act
    const got = await adapter.get('held-elsewhere');
    const requestsForGet = names();
    env.commands.reset();
    const acquired = await adapter.acquireLock('held-elsewhere', 60_000);

    // Assess
    expect(got).toBeNull();
    expect(requestsForGet).toEqual(LOST_CLAIM);
    expect(acquired).toBe(false);
    expect(names()).toEqual([]);
  });
  it('the lease is learnt only from an acquireLock that confirms a claim, not from other calls', async () => {
    // Prepare: other code on the instance locks a job for an hour
    const adapter = claiming();
    expect(await adapter.acquireLock('hour-long-job', 3_600_000)).toBe(true);
    env.commands.reset();

    // Act
    await executeLikeCore(adapter, 'after-long-job', async () => 1);

    // Assess: claimed with the core's default, which acquireLock then had nothing to correct
    expect(names()).toEqual(['PutItemCommand', 'PutItemCommand']);
    expect(leaseEndOf(env.commands.sent[0]?.input) - Date.now()).toBeLessThanOrEqual(
      CORE_DEFAULTS.lockTtl,
    );
  });

  it('a get while this instance holds the key sends nothing, and its acquireLock answers false', async () => {
    // Prepare
    const adapter = claiming();
    expect(await adapter.get('held-here')).toBeNull();
    expect(await adapter.acquireLock('held-here', CORE_DEFAULTS.lockTtl)).toBe(true);
    expect(await adapter.get('held-here')).toBeNull(); // the core's double check
    env.commands.reset();

    // Act
    const got = await adapter.get('held-here');
    const acquired = await adapter.acquireLock('held-here', CORE_DEFAULTS.lockTtl);

    // Assess
    expect(got).toBeNull();
    expect(acquired).toBe(false);
    expect(names()).toEqual([]);
  });

  it('a verdict lost to a lock that has since lapsed is not used: acquireLock asks the table and wins', async () => {
    // Prepare
    await env.adapter({ lockRenewal: false }).acquireLock('short-lived', 150);
    const adapter = claiming();
    expect(await adapter.get('short-lived')).toBeNull();
    await sleep(200);
    env.commands.reset();

    // Act
    const acquired = await adapter.acquireLock('short-lived', CORE_DEFAULTS.lockTtl);

    // Assess
    expect(acquired).toBe(true);
    expect(names()).toEqual(['PutItemCommand']);
  });

  it('a verdict lost to this instance own lock is dropped with that lock', async () => {
    // Prepare: a direct get while this instance holds the key, then the holder releases
    const adapter = claiming();
    expect(await adapter.acquireLock('own-verdict', 60_000)).toBe(true);
    expect(await adapter.get('own-verdict')).toBeNull();
    expect(await adapter.get('own-verdict')).toBeNull();
    await adapter.releaseLock('own-verdict');

    // Act
    const acquired = await adapter.acquireLock('own-verdict', 60_000);

    // Assess
    expect(acquired).toBe(true);
  });

  it('keeps no per-key state once flows are over: first executions, replays and waiters', async () => {
    // Prepare
    const adapter = claiming();
    const handler = async () => {
      await sleep(30);
      return 'done';
    };

    // Act
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        executeLikeCore(adapter, `no-state-${i % 2}`, handler, { lockPollInterval: 10 }),
      ),
    );
    await executeLikeCore(adapter, 'no-state-0', handler);

    // Assess
    const keys = (adapter as unknown as { keys: { size: number } }).keys;
    expect(keys.size).toBe(0);
  });
});

describe('ElectroDynamoAdapter with claimOnMiss: where no acquireLock follows', () => {
  it('the get after waitForLock is a plain read: a waiter whose holder stored nothing leaves no lock', async () => {
    // Prepare: a holder that fails without storing, and a waiter on another instance
    const holder = claiming();
    const waiter = claiming();
    expect(await holder.get('owner-failed')).toBeNull();
    expect(await holder.acquireLock('owner-failed', CORE_DEFAULTS.lockTtl)).toBe(true);
    const waiting = executeLikeCore(waiter, 'owner-failed', async () => 'never', {
      lockPollInterval: 20,
    });
    await sleep(60);
    const releasedFrom = env.commands.sent.length;
    await holder.releaseLock('owner-failed');

    // Act
    const outcome = await waiting.then(
      () => 'resolved',
      (error: unknown) => error,
    );

    // Assess: the core's CONFLICT, and nothing left in the table
    expect(outcome).toBeInstanceOf(ReferenceConflictError);
    const afterRelease = names().slice(releasedFrom);
    expect(afterRelease[0]).toBe('DeleteItemCommand');
    expect(afterRelease.at(-1)).toBe('GetItemCommand');
    expect(afterRelease).not.toContain('PutItemCommand');
    expect(await itemOf('owner-failed')).toBeUndefined();
  });

  it('a claim that get took and nobody confirmed lapses like any lock', async () => {
    // Prepare
    const direct = claiming({ lockTtlMs: 300 });

    // Act
    expect(await direct.get('unconfirmed')).toBeNull();

    // Assess
    expect(await env.adapter().acquireLock('unconfirmed', 60_000)).toBe(false);
    await sleep(350);
    expect(await env.adapter().acquireLock('unconfirmed', 60_000)).toBe(true);
  });

  it('releaseLock gives up a claim that get took and nobody confirmed', async () => {
    // Prepare
    const adapter = claiming();
    expect(await adapter.get('released-claim')).toBeNull();
    env.commands.reset();

    // Act
    await adapter.releaseLock('released-claim');

    // Assess
    expect(names()).toEqual(['DeleteItemCommand']);
    expect(await env.adapter().acquireLock('released-claim', 60_000)).toBe(true);
  });

  it('a set over an unconfirmed claim is not undone: the next acquireLock asks the table', async () => {
    // Prepare
    const adapter = claiming();
    expect(await adapter.get('set-over-claim')).toBeNull();
    await adapter.set('set-over-claim', record('stored'));
    env.commands.reset();

    // Act
    const acquired = await adapter.acquireLock('set-over-claim', 60_000);

    // Assess
    expect(acquired).toBe(false);
    expect(names()).toEqual(['PutItemCommand']);
  });

  it('an expired record is claimed over, like a missing one', async () => {
    // Prepare
    await env.adapter().set('expired', record('old', 1));
    await sleep(5);
    const adapter = claiming();

    // Act
    const got = await adapter.get('expired');
    env.commands.reset();
    const acquired = await adapter.acquireLock('expired', CORE_DEFAULTS.lockTtl);

    // Assess
    expect(got).toBeNull();
    expect(acquired).toBe(true);
    expect(names()).toEqual([]);
    expect((await itemOf('expired'))?.__edb_e__).toBe('idempotencyLock');
  });
});

describe('ElectroDynamoAdapter with claimOnMiss: concurrency, renewal, faults and events', () => {
  it('concurrent executions of one key on one instance run the handler once and agree', async () => {
    // Prepare
    const adapter = claiming();
    let executions = 0;
    const handler = async () => {
      executions += 1;
      await sleep(40);
      return { run: executions };
    };

    // Act
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        executeLikeCore(adapter, 'one-instance', handler, { lockPollInterval: 10 }),
      ),
    );

    // Assess
    expect(executions).toBe(1);
    expect(results).toEqual(Array.from({ length: 12 }, () => ({ run: 1 })));
    expect((await itemOf('one-instance'))?.__edb_e__).toBe('idempotencyRecord');
  });

  it('a lock claimed by get is renewed while its handler outlives the lease', async () => {
    // Prepare
    const lockTtl = 600;
    const renewed = recordEvents('leaseRenewed');
    let executions = 0;
    const handler = async () => {
      executions += 1;
      await sleep(lockTtl * 2.5);
      return 'slow';
    };
    const options = { lockTtl, lockTimeout: 5_000, lockPollInterval: 20 };

    // Act
    const first = executeLikeCore(claiming({ lockTtlMs: lockTtl }), 'renewed', handler, options);
    await sleep(lockTtl * 1.5);
    const late = await executeLikeCore(claiming(), 'renewed', handler, options);
    renewed.stop();

    // Assess
    expect(await first).toBe('slow');
    expect(late).toBe('slow');
    expect(executions).toBe(1);
    expect(renewed.forKey('renewed').length).toBeGreaterThanOrEqual(2);
  });

  it('a claim whose answer was lost is resolved by its owner token: get null, acquireLock true without a request', async () => {
    // Prepare
    const { client, adapter } = isolatedClaimingAdapter();
    const fault = loseNextResponse(client, (name) => name === 'PutItemCommand');
    const ambiguous = recordEvents('ambiguousWriteResolved');
    const commands = recordCommands(client);

    // Act
    const got = await adapter.get('ambiguous-get');
    const sentForGet = commands.sent.map((c) => c.name);
    commands.reset();
    const acquired = await adapter.acquireLock('ambiguous-get', CORE_DEFAULTS.lockTtl);
    ambiguous.stop();

    // Assess
    expect(fault.fired).toBe(true);
    expect(got).toBeNull();
    expect(sentForGet).toEqual(LOST_CLAIM);
    expect(acquired).toBe(true);
    expect(commands.sent).toEqual([]);
    expect(ambiguous.forKey('ambiguous-get')).toMatchObject([
      { operation: 'get', outcome: 'acquired', attempts: 2 },
    ]);
    expect(await env.adapter().acquireLock('ambiguous-get', 60_000)).toBe(false);
    client.destroy();
  });

  it('a claim that fails is decided by one read: a replay is served while writes fail', async () => {
    // Prepare
    await executeLikeCore(env.adapter(), 'writes-failing', async () => 'stored');
    const { client, adapter } = isolatedClaimingAdapter();
    // Recorded before the failure is injected, so the failed claim is seen too.
    const commands = recordCommands(client);
    failCommands(client, (name) => name === 'PutItemCommand');

    // Act
    const result = await executeLikeCore(adapter, 'writes-failing', async () => 'fresh');

    // Assess
    expect(result).toBe('stored');
    expect(commands.sent.map((c) => c.name)).toEqual(['PutItemCommand', 'GetItemCommand']);
    client.destroy();
  });

  it('a claim that committed but failed for good is recognised by its token in that read', async () => {
    // Prepare: the claim reaches the table, then the caller gets an error the SDK does not retry
    const { client, adapter } = isolatedClaimingAdapter();
    const fault = loseNextResponse(
      client,
      (name) => name === 'PutItemCommand',
      () => Object.assign(new Error('answer lost for good'), { name: 'InjectedFailure' }),
    );
    const commands = recordCommands(client);

    // Act
    const got = await adapter.get('committed-then-failed');
    const sentForGet = commands.sent.map((c) => c.name);
    commands.reset();
    const acquired = await adapter.acquireLock('committed-then-failed', CORE_DEFAULTS.lockTtl);

    // Assess
    expect(fault.fired).toBe(true);
    expect(got).toBeNull();
    expect(sentForGet).toEqual(['PutItemCommand', 'GetItemCommand']);
    expect(acquired).toBe(true);
    expect(commands.sent).toEqual([]);
    expect(await env.adapter().acquireLock('committed-then-failed', 60_000)).toBe(false);
    client.destroy();
  });

  it('a claim that fails, with its read failing too, reaches the caller of get as STORAGE_ERROR with the claim error as cause', async () => {
    // Prepare
    const { client, adapter } = isolatedClaimingAdapter();
    failCommands(client, (name) => name === 'PutItemCommand');
    failCommands(client, (name) => name === 'GetItemCommand', {
      name: 'ReadFailure',
      message: 'read failed',
    });

    // Act
    const error = await adapter.get('failed-claim').then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toMatchObject({
      code: 'STORAGE_ERROR',
      context: { operation: 'get', table: env.table, key: 'failed-claim' },
    });
    expect((error as Error).cause).toMatchObject({ name: 'InjectedFailure' });
    client.destroy();
  });

  it('a failed rewrite of the lease keeps the claim: a retried acquireLock confirms it', async () => {
    // Prepare: claimed with the default 30 s lease; acquireLock asks for 5 s
    const { client, adapter } = isolatedClaimingAdapter();
    expect(await adapter.get('failed-rewrite')).toBeNull();
    const failing = failCommands(client, (name) => name === 'PutItemCommand');
    const first = await adapter.acquireLock('failed-rewrite', 5_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    failing.enabled = false;
    const commands = recordCommands(client);

    // Act
    const acquired = await adapter.acquireLock('failed-rewrite', 5_000);

    // Assess
    expect(first).toMatchObject({ code: 'STORAGE_ERROR', context: { operation: 'acquireLock' } });
    expect(acquired).toBe(true);
    expect(commands.sent.map((c) => c.name)).toEqual(['PutItemCommand']);
    expect(commands.sent[0]?.input).toMatchObject({
      ConditionExpression: OWNER_UNMARKED_CONDITION,
    });
    expect(leaseEndOf(commands.sent[0]?.input) - Date.now()).toBeLessThanOrEqual(5_000);
    client.destroy();
  });

  it('a claim over a lapsed lock publishes the takeover', async () => {
    // Prepare
    await env.adapter({ lockRenewal: false }).acquireLock('lapsed', 50);
    await sleep(80);
    const takeovers = recordEvents('lockTakeover');

    // Act
    const got = await claiming().get('lapsed');
    takeovers.stop();

    // Assess
    expect(got).toBeNull();
    expect(takeovers.forKey('lapsed')).toHaveLength(1);
    // The lease ended 50 ms after the lock was taken; the claim came 80 ms after.
    expect(takeovers.forKey('lapsed')[0]?.lapsedMs).toBeGreaterThanOrEqual(25);
  });

  it('a replay of a record stored compressed returns it whole', async () => {
    // Prepare: a response over the 400 KB item limit as text, far under it compressed
    const response = { rows: 'row,'.repeat(120_000) };
    await executeLikeCore(claiming(), 'large', async () => response);
    env.commands.reset();

    // Act
    const replayed = await executeLikeCore(claiming(), 'large', async () => 'fresh');

    // Assess
    expect(replayed).toEqual(response);
    expect(names()).toEqual(LOST_CLAIM);
  });

  it('with the local cache, a lost claim fills it and the next replay sends nothing', async () => {
    // Prepare
    await executeLikeCore(claiming(), 'cached', async () => 'stored');
    const adapter = env.adapter({ claimOnMiss: true, localCache: { maxEntries: 10 } });
    env.commands.reset();

    // Act
    const first = await executeLikeCore(adapter, 'cached', async () => 'fresh');
    const sentFirst = names();
    env.commands.reset();
    const second = await executeLikeCore(adapter, 'cached', async () => 'fresh');

    // Assess
    expect([first, second]).toEqual(['stored', 'stored']);
    expect(sentFirst).toEqual(LOST_CLAIM);
    expect(names()).toEqual([]);
  });
});

describe('ElectroDynamoAdapter options: claimOnMiss', () => {
  it.each([
    ['a string', 'yes', 'option "claimOnMiss" must be a boolean or { lockTtlMs?: number }'],
    ['an unknown field', { ttl: 1 }, 'unknown option "claimOnMiss.ttl"'],
    ['a zero lease', { lockTtlMs: 0 }, 'option "claimOnMiss.lockTtlMs" must be a positive number'],
    ['a NaN lease', { lockTtlMs: Number.NaN }, 'option "claimOnMiss.lockTtlMs" must be a positive'],
  ])('rejects %s with INVALID_CONFIG naming the option', (_, value, message) => {
    expect(() => env.adapter({ claimOnMiss: value as never })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining(message),
      }),
    );
  });
});
