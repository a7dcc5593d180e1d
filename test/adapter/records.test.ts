import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotencyRecord } from '../../src/types.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ElectroDynamoAdapter records', () => {
  it('get returns null for a key never written', async () => {
    // Act
    const record = await env.adapter().get('never-written');

    // Assess
    expect(record).toBeNull();
  });

  it('set then get round-trips every field exactly, with nothing extra', async () => {
    // Prepare
    const adapter = env.adapter();
    const record: IdempotencyRecord = {
      response: {
        id: 42,
        big: 1e21,
        tiny: 5e-324,
        negativeZeroLike: -0.5,
        text: 'naïve café — 日本語 — 🚀👩‍👩‍👧',
        nested: { list: [1, 'two', null, { deep: [true, false] }], empty: {}, emptyList: [] },
        quote: 'he said "hi"\n\t\\',
      },
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123', 'x-ütf8': 'ÿ' },
      createdAt: 1_700_000_000_123,
      ttl: 10 * 365 * 24 * 3_600_000,
    };

    // Act
    await adapter.set('round-trip', record);
    const stored = await env.adapter().get('round-trip');

    // Assess
    expect(stored).toStrictEqual(record);
    expect(Object.keys(stored ?? {}).sort()).toEqual([
      'createdAt',
      'headers',
      'response',
      'statusCode',
      'ttl',
    ]);
  });

  it('round-trips the core serialized-error object exactly', async () => {
    // Prepare
    const error = new Error('payment declined');
    const serialized = {
      '@@idempotency/error': true,
      name: 'PaymentError',
      message: error.message,
      stack: error.stack,
      extras: { code: 'card_declined', retryable: false, attempts: 3 },
    };
    const record = { response: serialized, createdAt: Date.now(), ttl: 60_000 };

    // Act
    await env.adapter().set('serialized-error', record);
    const stored = await env.adapter().get('serialized-error');

    // Assess
    expect(stored).toStrictEqual(record);
  });

  it('round-trips scalar, null and undefined responses as JSON does', async () => {
    const adapter = env.adapter();
    const cases: Array<[string, unknown]> = [
      ['string', 'plain text'],
      ['number', 0],
      ['boolean', false],
      ['null', null],
      ['undefined', undefined],
      ['array', [1, [2, [3]]]],
    ];
    for (const [name, response] of cases) {
      const record = { response, createdAt: Date.now(), ttl: 60_000 };
      await adapter.set(`scalar-${name}`, record);
      expect(await adapter.get(`scalar-${name}`), name).toStrictEqual(record);
    }
  });

  it('stores undefined members of a response as JSON drops them', async () => {
    // Prepare
    const record = {
      response: { kept: 1, dropped: undefined },
      createdAt: Date.now(),
      ttl: 60_000,
    };

    // Act
    await env.adapter().set('undefined-member', record);

    // Assess
    expect((await env.adapter().get('undefined-member'))?.response).toStrictEqual({ kept: 1 });
  });

  it('set overwrites an existing record', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.set('overwrite', { response: 'first', createdAt: Date.now(), ttl: 60_000 });

    // Act
    await adapter.set('overwrite', { response: 'second', createdAt: Date.now(), ttl: 60_000 });

    // Assess
    expect((await adapter.get('overwrite'))?.response).toBe('second');
  });

  it('get treats a record past createdAt + ttl as absent', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.set('expired', { response: 'old', createdAt: Date.now() - 1_000, ttl: 500 });
    await adapter.set('short-lived', { response: 'soon', createdAt: Date.now(), ttl: 150 });

    // Act
    const expired = await adapter.get('expired');
    const beforeExpiry = await adapter.get('short-lived');
    await sleep(250);
    const afterExpiry = await adapter.get('short-lived');

    // Assess
    expect(expired).toBeNull();
    expect(beforeExpiry?.response).toBe('soon');
    expect(afterExpiry).toBeNull();
  });

  it('writes an epoch-second expiry attribute for DynamoDB TTL on the record item', async () => {
    // Prepare
    const createdAt = 1_800_000_000_500;

    // Act
    await env.adapter().set('ttl-attribute', { response: 1, createdAt, ttl: 1_000 });

    // Assess
    const item = (await env.scan()).find((i) => i.pk === 'idem#ttl-attribute');
    expect(item?.expiresAt).toBe(1_800_000_002);
  });

  it('delete removes the record', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.set('to-delete', { response: 'x', createdAt: Date.now(), ttl: 60_000 });

    // Act
    await adapter.delete('to-delete');

    // Assess
    expect(await adapter.get('to-delete')).toBeNull();
    expect((await env.scan()).some((i) => i.pk === 'idem#to-delete')).toBe(false);
  });

  it('delete of a missing key resolves and leaves a live lock on another key in place', async () => {
    // Prepare
    const adapter = env.adapter();
    expect(await adapter.acquireLock('locked-not-deleted', 60_000)).toBe(true);

    // Act
    await adapter.delete('absent-key');
    await adapter.delete('locked-not-deleted');

    // Assess: the in-flight lock survived a delete of the record under its key
    expect(await env.adapter().acquireLock('locked-not-deleted', 60_000)).toBe(false);
  });
});

describe('ElectroDynamoAdapter records that cannot be read', () => {
  it('get reports a stored item whose response is not JSON as SERIALIZATION_ERROR', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.entities.record
      .put({
        cacheKey: 'corrupt',
        response: '{not json',
        createdAt: Date.now(),
        ttlMs: 60_000,
        validUntil: Date.now() + 60_000,
        expiresAt: 0,
      })
      .go();

    // Act / Assess
    await expect(adapter.get('corrupt')).rejects.toMatchObject({
      code: 'SERIALIZATION_ERROR',
      message: expect.stringMatching(/"response" is not valid JSON/),
    });
  });
});
