import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { createClient } from '../support/backend.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
beforeEach(() => env.commands.reset());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const record = (response: unknown, ttl = 60_000) => ({ response, createdAt: Date.now(), ttl });

describe('ElectroDynamoAdapter localCache', () => {
  it('answers a warm replay with no request', async () => {
    // Prepare
    const adapter = env.adapter({ localCache: { maxEntries: 10 } });
    await executeLikeCore(adapter, 'warm', async () => ({ id: 1 }));
    env.commands.reset();

    // Act
    const replayed = await executeLikeCore(adapter, 'warm', async () => ({ id: 2 }));

    // Assess
    expect(replayed).toEqual({ id: 1 });
    expect(env.commands.sent).toEqual([]);
  });

  it('caches a record read from the table, then serves it without a request', async () => {
    // Prepare
    await env.adapter().set('read-through', record('stored'));
    const adapter = env.adapter({ localCache: { maxEntries: 10 } });

    // Act
    const first = await adapter.get('read-through');
    env.commands.reset();
    const second = await adapter.get('read-through');

    // Assess
    expect(first?.response).toBe('stored');
    expect(second).toStrictEqual(first);
    expect(env.commands.sent).toEqual([]);
  });

  it('hands out copies: mutating a returned record does not change the cache', async () => {
    // Prepare
    const adapter = env.adapter({ localCache: { maxEntries: 10 } });
    await adapter.set('copies', record({ n: 1 }));

    // Act
    const first = await adapter.get('copies');
    (first?.response as { n: number }).n = 99;

    // Assess
    expect((await adapter.get('copies'))?.response).toEqual({ n: 1 });
  });

  it('respects expiry', async () => {
    // Prepare
    const adapter = env.adapter({ localCache: { maxEntries: 10 } });
    await adapter.set('cache-expiry', record('soon', 100));
    expect((await adapter.get('cache-expiry'))?.response).toBe('soon');

    // Act
    await sleep(150);

    // Assess
    expect(await adapter.get('cache-expiry')).toBeNull();
  });

  it('keeps at most maxEntries records, dropping the least recently used', async () => {
    // Prepare
    const adapter = env.adapter({ localCache: { maxEntries: 2 } });
    await adapter.set('lru-a', record('a'));
    await adapter.set('lru-b', record('b'));
    await adapter.get('lru-a');
    await adapter.set('lru-c', record('c'));
    env.commands.reset();

    // Act
    await adapter.get('lru-a');
    await adapter.get('lru-c');
    const afterHits = env.commands.sent.length;
    await adapter.get('lru-b');

    // Assess
    expect(afterHits).toBe(0);
    expect(env.commands.sent.map((c) => c.name)).toEqual(['GetItemCommand']);
  });

  it('never caches a lock or an absence: the record that replaces a lock is seen', async () => {
    // Prepare
    const owner = env.adapter();
    const cached = env.adapter({ localCache: { maxEntries: 10 } });
    await owner.acquireLock('lock-not-cached', 60_000);
    expect(await cached.get('lock-not-cached')).toBeNull();

    // Act
    await owner.set('lock-not-cached', record('done'));

    // Assess
    expect((await cached.get('lock-not-cached'))?.response).toBe('done');
  });

  it('forgets a record deleted through the same instance', async () => {
    // Prepare
    const adapter = env.adapter({ localCache: { maxEntries: 10 } });
    await adapter.set('cache-delete', record('x'));

    // Act
    await adapter.delete('cache-delete');

    // Assess
    expect(await adapter.get('cache-delete')).toBeNull();
  });

  it('does not see a delete made through another instance until the record expires (the documented trade-off)', async () => {
    // Prepare
    const cached = env.adapter({ localCache: { maxEntries: 10 } });
    await cached.set('stale-after-delete', record('cached', 150));
    await env.adapter().delete('stale-after-delete');

    // Act
    const beforeExpiry = await cached.get('stale-after-delete');
    await sleep(200);
    const afterExpiry = await cached.get('stale-after-delete');

    // Assess
    expect(beforeExpiry?.response).toBe('cached');
    expect(afterExpiry).toBeNull();
  });

  it('a read still in flight does not put back a record this instance deleted or overwrote', async () => {
    // Prepare: reads answered 100 ms late, so writes can overtake them
    const client = createClient(env.endpoint);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (context.commandName === 'GetItemCommand') await sleep(100);
        return output;
      },
      { step: 'initialize', name: 'slowReads' },
    );
    const adapter = new ElectroDynamoAdapter({
      client,
      table: env.table,
      prefix: 'idem',
      localCache: { maxEntries: 10 },
    });
    await env.adapter().set('race-delete', record('old'));
    await env.adapter().set('race-set', record('v1'));

    // Act
    const slowDeleteRead = adapter.get('race-delete');
    await sleep(20);
    await adapter.delete('race-delete');
    await slowDeleteRead;
    const slowSetRead = adapter.get('race-set');
    await sleep(20);
    await adapter.set('race-set', record('v2'));
    await slowSetRead;

    // Assess
    expect(await adapter.get('race-delete')).toBeNull();
    expect((await adapter.get('race-set'))?.response).toBe('v2');
    client.destroy();
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects maxEntries %s with INVALID_CONFIG', (maxEntries) => {
    expect(() => env.adapter({ localCache: { maxEntries } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining('"localCache.maxEntries" must be an integer >= 1'),
      }),
    );
  });
});
