import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { returnsItemOnConditionFailure } from '../support/backend.js';
import { failCommands, loseNextResponse } from '../support/faults.js';
import { recordCommands } from '../support/requestCounter.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

// Depending on the middleware step, the item is plain or marshalled ({ S: 'idempotencyLock' }).
const putsEntity = (entity: string) => (name: string, input: Record<string, unknown>) => {
  const marker = (input.Item as { __edb_e__?: unknown } | undefined)?.__edb_e__;
  const value =
    typeof marker === 'object' && marker !== null ? (marker as { S?: unknown }).S : marker;
  return name === 'PutItemCommand' && value === entity;
};
const isLockPut = putsEntity('idempotencyLock');
const isRecordPut = putsEntity('idempotencyRecord');

describe('ElectroDynamoAdapter with lost responses (ambiguous writes)', () => {
  it('acquireLock reports the lock as acquired when the retried claim meets its own lock', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    const fault = loseNextResponse(client, isLockPut);
    const commands = recordCommands(client);

    // Act
    const acquired = await adapter.acquireLock('ambiguous-claim', 60_000);

    // Assess
    expect(fault.fired).toBe(true);
    expect(acquired).toBe(true);
    // The rejection carries our own lock where the server returns it; dynalite needs a read.
    expect(commands.sent.map((sent) => sent.name)).toEqual(
      returnsItemOnConditionFailure ? ['PutItemCommand'] : ['PutItemCommand', 'GetItemCommand'],
    );
    expect(await env.adapter().acquireLock('ambiguous-claim', 60_000)).toBe(false);
    await adapter.releaseLock('ambiguous-claim');
    expect(await env.adapter().acquireLock('ambiguous-claim', 60_000)).toBe(true);
  });

  it('acquireLock still refuses when the retried claim meets another owner lock', async () => {
    // Prepare
    await env.adapter().acquireLock('owned-elsewhere', 60_000);
    const { client, adapter } = env.isolatedAdapter();
    loseNextResponse(client, isLockPut);

    const commands = recordCommands(client);

    // Act / Assess
    expect(await adapter.acquireLock('owned-elsewhere', 60_000)).toBe(false);
    // Rejected on its first attempt (a rejection is an answer: nothing was lost to retry), so
    // there is no doubt to resolve and nothing is read.
    expect(commands.sent.map((sent) => sent.name)).toEqual(['PutItemCommand']);
  });

  it('set resolves and the record is stored when the first attempt committed', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('ambiguous-set', 60_000);
    const fault = loseNextResponse(client, isRecordPut);

    // Act
    await adapter.set('ambiguous-set', { response: 'r', createdAt: Date.now(), ttl: 60_000 });

    // Assess
    expect(fault.fired).toBe(true);
    expect((await env.adapter().get('ambiguous-set'))?.response).toBe('r');
  });

  it('releaseLock resolves and the lock is gone when the first delete committed', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('ambiguous-release', 60_000);
    const fault = loseNextResponse(client, (name) => name === 'DeleteItemCommand');

    // Act
    await adapter.releaseLock('ambiguous-release');

    // Assess
    expect(fault.fired).toBe(true);
    expect(await env.adapter().acquireLock('ambiguous-release', 60_000)).toBe(true);
  });
});

describe('ElectroDynamoAdapter when a write fails', () => {
  it('a failed set reaches the caller as STORAGE_ERROR and releaseLock then frees the lock', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('failed-set', 60_000);
    const failing = failCommands(client, isRecordPut);

    // Act
    const error = await adapter
      .set('failed-set', { response: 'r', createdAt: Date.now(), ttl: 60_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    failing.enabled = false;
    await adapter.releaseLock('failed-set');

    // Assess
    expect(error).toMatchObject({
      code: 'STORAGE_ERROR',
      context: { operation: 'set', table: env.table, key: 'failed-set' },
    });
    expect((error as Error).cause).toMatchObject({ name: 'InjectedFailure' });
    expect(await env.adapter().get('failed-set')).toBeNull();
    expect(await env.adapter().acquireLock('failed-set', 60_000)).toBe(true);
  });

  it('regression: a set whose answer was lost for good (STORAGE_ERROR) keeps its committed record through the release that follows', async () => {
    // Prepare: the record put commits, then its answer is lost with an error the SDK does not
    // retry: the caller sees STORAGE_ERROR for a record that is stored. (When records carried the
    // holder's token under the lock's own `owner` name, the release deleted it.)
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('lost-set-answer', 60_000);
    const fault = loseNextResponse(client, isRecordPut, () =>
      Object.assign(new Error('Injected lost answer'), { name: 'InjectedFailure' }),
    );

    // Act: as the core does after a failed set
    const error = await adapter
      .set('lost-set-answer', { response: 'stored', createdAt: Date.now(), ttl: 60_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await adapter.releaseLock('lost-set-answer');

    // Assess
    expect(fault.fired).toBe(true);
    expect(error).toMatchObject({ code: 'STORAGE_ERROR' });
    expect((await env.adapter().get('lost-set-answer'))?.response).toBe('stored');
    expect(await env.adapter().acquireLock('lost-set-answer', 60_000)).toBe(false);
  });

  it('a releaseLock retried after its STORAGE_ERROR still releases the lock', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('retried-release', 60_000);
    const failing = failCommands(client, (name) => name === 'DeleteItemCommand');
    const first = await adapter.releaseLock('retried-release').then(
      () => undefined,
      (e: unknown) => e,
    );
    failing.enabled = false;

    // Act
    await adapter.releaseLock('retried-release');

    // Assess
    expect(first).toMatchObject({ code: 'STORAGE_ERROR', context: { operation: 'releaseLock' } });
    expect(await env.adapter().acquireLock('retried-release', 60_000)).toBe(true);
  });

  it('a retried releaseLock leaves alone a newer acquisition of the key by the same instance', async () => {
    // Prepare: the release fails, the lock lapses, and the instance claims the key again
    const { client, adapter } = env.isolatedAdapter();
    await adapter.acquireLock('reacquired', 100);
    const failing = failCommands(client, (name) => name === 'DeleteItemCommand');
    await adapter.releaseLock('reacquired').catch(() => undefined);
    failing.enabled = false;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await adapter.acquireLock('reacquired', 60_000)).toBe(true);

    // Act: one release ends the newer acquisition, the only one outstanding
    await adapter.releaseLock('reacquired');

    // Assess
    expect(await env.adapter().acquireLock('reacquired', 60_000)).toBe(true);
  });
});
