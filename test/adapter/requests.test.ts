import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeLikeCore } from '../support/coreReference.mjs';
import {
  CLAIM_CONDITION,
  FENCED_RECORD_CONDITION,
  OWNER_UNMARKED_CONDITION,
} from '../support/requestKinds.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
beforeEach(() => env.commands.reset());

describe('ElectroDynamoAdapter requests per flow (core call sequence)', () => {
  it('a first execution sends 3 requests: consistent get, conditional claim, record put', async () => {
    // Prepare
    const adapter = env.adapter();

    // Act
    const result = await executeLikeCore(adapter, 'first-execution', async () => ({ ok: true }));

    // Assess
    expect(result).toEqual({ ok: true });
    expect(env.commands.sent.map((c) => c.name)).toEqual([
      'GetItemCommand',
      'PutItemCommand',
      'PutItemCommand',
    ]);
    const [get, claim, store] = env.commands.sent.map((c) => c.input);
    expect(get).toMatchObject({
      TableName: env.table,
      ConsistentRead: true,
      Key: { pk: 'idem#first-execution', sk: 'idem' },
    });
    expect(claim).toMatchObject({
      TableName: env.table,
      ConditionExpression: CLAIM_CONDITION,
      ExpressionAttributeNames: { '#validUntil': 'validUntil', '#markedUntil': 'markedUntil' },
      Item: { pk: 'idem#first-execution', sk: 'idem', __edb_e__: 'idempotencyLock' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    // The holder's record is fenced: stored only while its own lock still holds the key.
    const token = (claim?.Item as { owner?: string } | undefined)?.owner;
    expect(store).toMatchObject({
      TableName: env.table,
      Item: {
        pk: 'idem#first-execution',
        sk: 'idem',
        __edb_e__: 'idempotencyRecord',
        storedBy: token,
      },
      ConditionExpression: FENCED_RECORD_CONDITION,
      ExpressionAttributeValues: { ':lockOwner0': token, ':storedBy0': token },
    });
  });

  it('a replay sends 1 request', async () => {
    // Prepare
    const adapter = env.adapter();
    await executeLikeCore(adapter, 'replay', async () => 'stored');
    env.commands.reset();
    let ran = false;

    // Act
    const result = await executeLikeCore(env.adapter(), 'replay', async () => {
      ran = true;
      return 'fresh';
    });

    // Assess
    expect(result).toBe('stored');
    expect(ran).toBe(false);
    expect(env.commands.sent.map((c) => c.name)).toEqual(['GetItemCommand']);
    expect(env.commands.sent[0]?.input).toMatchObject({ ConsistentRead: true });
  });

  it('a failed handler stores its error in 3 requests and a retry replays it in 1', async () => {
    // Act
    const first = executeLikeCore(env.adapter(), 'handler-throws', async () => {
      throw new Error('boom');
    });

    // Assess
    await expect(first).rejects.toThrow('boom');
    expect(env.commands.sent).toHaveLength(3);
    env.commands.reset();
    await expect(executeLikeCore(env.adapter(), 'handler-throws', async () => 'x')).rejects.toThrow(
      'boom',
    );
    expect(env.commands.sent).toHaveLength(1);
  });

  it('a claim that loses to a live lock costs its one request and no read', async () => {
    // Prepare
    await env.adapter().acquireLock('lost-claim', 60_000);
    env.commands.reset();

    // Act
    const acquired = await env.adapter().acquireLock('lost-claim', 60_000);

    // Assess
    expect(acquired).toBe(false);
    expect(env.commands.sent.map((c) => c.name)).toEqual(['PutItemCommand']);
  });

  it('a waiter replays from the record its last lock poll read: no request for the read after the wait', async () => {
    // Prepare: the owner stores its record while the waiter polls
    const owner = env.adapter();
    const waiter = env.adapter();
    await owner.acquireLock('waited', 60_000);
    setTimeout(() => {
      void owner.set('waited', { response: 'stored', createdAt: Date.now(), ttl: 60_000 });
    }, 60);
    env.commands.reset();

    // Act
    await waiter.waitForLock('waited', 5_000, 20);
    const sentByWait = env.commands.sent.length;
    const record = await waiter.get('waited');

    // Assess
    expect(record?.response).toBe('stored');
    expect(env.commands.sent.length).toBe(sentByWait);
    const lastPoll = env.commands.sent.at(-1);
    expect(lastPoll?.name).toBe('GetItemCommand');
    expect(lastPoll?.input).toMatchObject({ ConsistentRead: true });
    // The receipt answers once: a second get reads the table
    await waiter.get('waited');
    expect(env.commands.sent.length).toBe(sentByWait + 1);
  });

  it("a write through the waiter's own instance voids the record its poll read", async () => {
    // Prepare
    await env.adapter().set('waited-then-written', {
      response: 'first',
      createdAt: Date.now(),
      ttl: 60_000,
    });
    const waiter = env.adapter();
    await waiter.waitForLock('waited-then-written', 1_000, 20);

    // Act
    await waiter.set('waited-then-written', {
      response: 'second',
      createdAt: Date.now(),
      ttl: 60_000,
    });

    // Assess
    expect((await waiter.get('waited-then-written'))?.response).toBe('second');
  });

  it('releasing a lock that was never followed by set sends one owner-conditioned delete', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.acquireLock('release-only', 60_000);
    const claim = env.commands.sent[0]?.input.Item as Record<string, unknown> | undefined;
    const owner = claim?.owner;
    env.commands.reset();

    // Act
    await adapter.releaseLock('release-only');

    // Assess
    expect(env.commands.sent).toHaveLength(1);
    expect(env.commands.sent[0]).toMatchObject({
      name: 'DeleteItemCommand',
      input: {
        Key: { pk: 'idem#release-only', sk: 'idem' },
        ConditionExpression: OWNER_UNMARKED_CONDITION,
        ExpressionAttributeValues: { ':owner0': owner },
      },
    });
  });
});
