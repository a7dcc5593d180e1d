import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { requestTemplate } from '../../src/adapter/requests/requestTemplate.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
afterEach(() => {
  vi.restoreAllMocks();
});

const client = new DynamoDBClient({ region: 'local', endpoint: 'http://127.0.0.1:9' });

describe('requestTemplate', () => {
  it('fills the template ElectroDB built with each call values, equal to what ElectroDB builds', () => {
    // Prepare
    const { lock } = new ElectroDynamoAdapter({ client, table: 'app-table', prefix: 'Idem' })
      .entities;
    const build = (v: { cacheKey: string; owner: string; validUntil: number; now: number }) =>
      lock
        .put({ cacheKey: v.cacheKey, owner: v.owner, validUntil: v.validUntil, expiresAt: 1 })
        .where(({ validUntil }, { lt }) => lt(validUntil, v.now))
        .params();
    const probe = { cacheKey: 'Probe Ä', owner: 'o', validUntil: 2, now: 1 };

    // Act
    const fill = requestTemplate(build, [probe]);
    const values = { cacheKey: `K/${randomUUID()}#É`, owner: randomUUID(), validUntil: 17, now: 5 };

    // Assess
    expect(fill).not.toBe(build);
    expect(fill(values)).toEqual(build(values));
    expect(fill(values)).toMatchObject({
      Item: { pk: `Idem#${values.cacheKey}`, owner: values.owner, validUntil: 17 },
      ExpressionAttributeValues: { ':validUntil0': 5 },
    });
  });

  it('falls back to the builder when the template cannot reproduce it', () => {
    // Prepare: a builder that transforms its value, as ElectroDB's key casing would
    const build = (v: { cacheKey: string }) => ({ Key: { pk: v.cacheKey.toLowerCase() } });

    // Act
    const fill = requestTemplate(build, [{ cacheKey: 'Probe-A' }]);

    // Assess
    expect(fill).toBe(build);
    expect(fill({ cacheKey: 'MiXeD' })).toEqual({ Key: { pk: 'mixed' } });
  });

  it('falls back to the builder when a configured name contains what looks like a marker', () => {
    // Prepare
    const build = (v: { owner: string }) => ({ prefix: '\uE0000\uE000', owner: v.owner });

    // Act
    const fill = requestTemplate(build, [{ owner: 'a' }]);

    // Assess
    expect(fill).toBe(build);
    expect(fill({ owner: 'b' })).toEqual({ prefix: '\uE0000\uE000', owner: 'b' });
  });
});

describe('ElectroDynamoAdapter requests from templates', () => {
  it('once a record of a kind was stored, flows build no request through ElectroDB', async () => {
    // Prepare
    const adapter = env.adapter({ claimOnMiss: true });
    const { lock, record } = adapter.entities;
    const shapes = [
      { response: 'r', createdAt: Date.now(), ttl: 60_000 },
      { response: 'r', statusCode: 201, headers: { a: 'b' }, createdAt: Date.now(), ttl: 60_000 },
      { response: undefined, createdAt: Date.now(), ttl: 60_000 },
    ];
    // Each kind twice: stored by a caller holding no lock, and by the holder (a fenced put).
    const storeEachKind = async (name: string) => {
      for (const [i, shape] of shapes.entries()) {
        await adapter.set(`${name}-${i}`, shape);
        expect(await adapter.acquireLock(`${name}-held-${i}`, 60_000)).toBe(true);
        await adapter.set(`${name}-held-${i}`, shape);
      }
    };
    await storeEachKind('template-warm');
    const lockPuts = vi.spyOn(lock, 'put');
    const lockDeletes = vi.spyOn(lock, 'delete');
    const recordPuts = vi.spyOn(record, 'put');

    // Act: a first execution, a replay, and a claim that is renewed and released
    await executeLikeCore(adapter, 'template-flow', async () => 'second');
    await executeLikeCore(adapter, 'template-flow', async () => 'again');
    await storeEachKind('template-again');
    // Claimed with the core's default lease (30 s), rewritten by acquireLock to 5 s: a renewal put.
    expect(await adapter.get('template-lock')).toBeNull();
    expect(await adapter.acquireLock('template-lock', 5_000)).toBe(true);
    const rewritten = (await env.scan()).find((item) => item.cacheKey === 'template-lock');
    await adapter.releaseLock('template-lock');

    // Assess
    expect(Number(rewritten?.validUntil) - Date.now()).toBeLessThanOrEqual(5_000);
    expect(lockPuts).not.toHaveBeenCalled();
    expect(lockDeletes).not.toHaveBeenCalled();
    expect(recordPuts).not.toHaveBeenCalled();
    expect((await env.scan()).some((item) => item.cacheKey === 'template-lock')).toBe(false);
  });
});
