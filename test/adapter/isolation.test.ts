import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 60_000 });

describe('ElectroDynamoAdapter key isolation', () => {
  it('keys that differ only in case stay apart', async () => {
    // Prepare
    const adapter = env.adapter();

    // Act
    await adapter.set('ABC', record('upper'));
    await adapter.set('abc', record('lower'));

    // Assess
    expect((await adapter.get('ABC'))?.response).toBe('upper');
    expect((await adapter.get('abc'))?.response).toBe('lower');
    expect(await adapter.acquireLock('Abc', 60_000)).toBe(true);
  });

  it('two prefixes in one table stay apart', async () => {
    // Prepare
    const tenantA = env.adapter({ prefix: 'tenant-a' });
    const tenantB = env.adapter({ prefix: 'tenant-b' });

    // Act
    await tenantA.set('shared-key', record('from A'));
    const bClaims = await tenantB.acquireLock('shared-key', 60_000);

    // Assess
    expect(await tenantB.get('shared-key')).toBeNull();
    expect(bClaims).toBe(true);
    expect((await tenantA.get('shared-key'))?.response).toBe('from A');
  });

  it('every partition key begins with the prefix literally', async () => {
    // Prepare
    const adapter = env.adapter({ prefix: 'Idem.Prefix' });

    // Act
    await adapter.set('KeyOne', record(1));
    await adapter.acquireLock('KeyTwo', 60_000);

    // Assess
    const keys = (await env.scan())
      .filter((i) => String(i.pk).startsWith('Idem.Prefix'))
      .map((i) => [i.pk, i.sk]);
    expect(keys.sort()).toEqual([
      ['Idem.Prefix#KeyOne', 'Idem.Prefix'],
      ['Idem.Prefix#KeyTwo', 'Idem.Prefix'],
    ]);
  });

  it('never touches the app items that share the table', async () => {
    // Prepare
    await env.users.put({ userId: 'u-1', name: 'Ada' }).go();
    await env.users.put({ userId: 'idem#u-2', name: 'Key lookalike' }).go();
    const appItemsBefore = (await env.scan()).filter((i) => i.__edb_e__ === 'user');
    const adapter = env.adapter();

    // Act
    await adapter.set('u-1', record('x'));
    await adapter.acquireLock('u-2', 60_000);
    await adapter.releaseLock('u-2');
    await adapter.delete('u-1');
    await adapter.waitForLock('u-1', 100, 10);

    // Assess
    const appItemsAfter = (await env.scan()).filter((i) => i.__edb_e__ === 'user');
    expect(appItemsAfter).toEqual(appItemsBefore);
    expect((await env.users.get({ userId: 'u-1' }).go()).data).toEqual({
      userId: 'u-1',
      name: 'Ada',
    });
  });
});
