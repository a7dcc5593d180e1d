import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import type { IdempotencyRecord } from '../../src/types.js';
import { createClient, createTable } from '../support/backend.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
let itemsBefore: Record<string, unknown>[];
beforeAll(async () => {
  env = await startTestTable();
  // Something already stored that no bad input may disturb.
  await env
    .adapter()
    .set('stored', { response: { kept: true }, createdAt: Date.now(), ttl: 3_600_000 });
  await env.adapter().acquireLock('held', 3_600_000);
});
beforeEach(async () => {
  itemsBefore = await env.scan();
  env.commands.reset();
});
afterAll(() => env.close());

async function rejection(call: Promise<unknown>): Promise<IdempotencyError> {
  const outcome = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(IdempotencyError);
  return outcome as IdempotencyError;
}

/** Nothing was sent and the table holds exactly what it held before. */
async function expectNothingWritten(): Promise<void> {
  expect(env.commands.sent).toEqual([]);
  expect(await env.scan()).toEqual(itemsBefore);
}

const validRecord = (): IdempotencyRecord => ({
  response: { ok: true },
  createdAt: Date.now(),
  ttl: 60_000,
});

type MethodCall = (adapter: ElectroDynamoAdapter, key: unknown) => Promise<unknown>;
const everyMethod: [string, MethodCall][] = [
  ['get', (a, k) => a.get(k as string)],
  ['set', (a, k) => a.set(k as string, validRecord())],
  ['delete', (a, k) => a.delete(k as string)],
  ['acquireLock', (a, k) => a.acquireLock(k as string, 1_000)],
  ['releaseLock', (a, k) => a.releaseLock(k as string)],
  ['waitForLock', (a, k) => a.waitForLock(k as string, 1_000, 10)],
];

describe('ElectroDynamoAdapter keys', () => {
  describe.each(everyMethod)('%s', (method, call) => {
    it.each([
      ['an empty string', '', /key must be a non-empty string \(got an empty string\)/],
      ['a number', 42, /key must be a non-empty string \(got number\)/],
      ['undefined', undefined, /key must be a non-empty string \(got undefined\)/],
      ['null', null, /key must be a non-empty string \(got null\)/],
    ])('rejects %s with KEY_REQUIRED and writes nothing', async (_label, key, message) => {
      // Act
      const error = await rejection(call(env.adapter(), key));

      // Assess
      expect(error.code).toBe('KEY_REQUIRED');
      expect(error.message).toMatch(new RegExp(`^${method}: `));
      expect(error.message).toMatch(message);
      await expectNothingWritten();
    });
  });

  it('rejects a key whose partition key passes 2048 bytes, counting UTF-8 bytes, not UTF-16 units', async () => {
    // Prepare: "idem#" is 5 bytes; each rocket is 4 UTF-8 bytes but only 2 UTF-16 units, so
    // dynalite (which counts units) would accept this key and DynamoDB would refuse it
    const key = '🚀'.repeat(511);

    // Act
    const error = await rejection(env.adapter().set(key, validRecord()));

    // Assess
    expect(error.code).toBe('KEY_REQUIRED');
    expect(error.message).toBe(
      "set: partition key would be 2049 bytes, over DynamoDB's 2048-byte limit",
    );
    expect(error.context).toMatchObject({ bytes: 2049, limit: 2048 });
    await expectNothingWritten();
  });

  it.each([
    ['ASCII', 'k'.repeat(2_100), 2_105],
    ['two-byte characters', 'é'.repeat(1_100), 2_205],
  ])('rejects an over-long %s key with its byte count', async (_label, key, bytes) => {
    // Act
    const error = await rejection(env.adapter().get(key));

    // Assess
    expect(error.code).toBe('KEY_REQUIRED');
    expect(error.message).toContain(`partition key would be ${bytes} bytes`);
    await expectNothingWritten();
  });

  it('accepts a key whose partition key is exactly 2048 bytes', async () => {
    // Prepare
    const key = 'k'.repeat(2048 - 'idem#'.length);

    // Act
    await env.adapter().set(key, validRecord());

    // Assess
    expect((await env.adapter().get(key))?.response).toEqual({ ok: true });
  });
});

describe('ElectroDynamoAdapter.set records', () => {
  const withoutField = (field: 'createdAt' | 'ttl') => {
    const { [field]: _dropped, ...rest } = validRecord();
    return rest as IdempotencyRecord;
  };

  it.each([
    [
      'createdAt missing',
      withoutField('createdAt'),
      /"createdAt" must be a finite number >= 0 \(got undefined\)/,
    ],
    [
      'createdAt NaN',
      { ...validRecord(), createdAt: Number.NaN },
      /"createdAt" must be a finite number >= 0 \(got NaN\)/,
    ],
    [
      'createdAt negative',
      { ...validRecord(), createdAt: -1 },
      /"createdAt" must be a finite number >= 0 \(got -1\)/,
    ],
    ['ttl missing', withoutField('ttl'), /"ttl" must be a finite number >= 0 \(got undefined\)/],
    [
      'ttl NaN',
      { ...validRecord(), ttl: Number.NaN },
      /"ttl" must be a finite number >= 0 \(got NaN\)/,
    ],
    [
      'ttl negative',
      { ...validRecord(), ttl: -5 },
      /"ttl" must be a finite number >= 0 \(got -5\)/,
    ],
    [
      'ttl infinite',
      { ...validRecord(), ttl: Number.POSITIVE_INFINITY },
      /"ttl" must be a finite number >= 0 \(got Infinity\)/,
    ],
    [
      'statusCode fractional',
      { ...validRecord(), statusCode: 20.5 },
      /"statusCode" must be an integer \(got 20.5\)/,
    ],
    [
      'headers not an object',
      { ...validRecord(), headers: 'x' as never },
      /"headers" must be an object of string values/,
    ],
    [
      'headers with a number',
      { ...validRecord(), headers: { 'x-n': 1 } as never },
      /"headers" must be an object of string values/,
    ],
    ['not an object', null as never, /Record must be an object/],
  ])(
    'rejects a record with %s as SERIALIZATION_ERROR and writes nothing',
    async (_label, record, message) => {
      // Act: the key already holds a record, which must survive
      const error = await rejection(env.adapter().set('stored', record));

      // Assess
      expect(error.code).toBe('SERIALIZATION_ERROR');
      expect(error.message).toMatch(message);
      expect(error.context).toMatchObject({ operation: 'set', key: 'stored' });
      await expectNothingWritten();
      expect((await env.adapter().get('stored'))?.response).toEqual({ kept: true });
    },
  );

  it('rejects a response holding a BigInt as SERIALIZATION_ERROR naming where it sits', async () => {
    // Act
    const error = await rejection(
      env.adapter().set('held', { ...validRecord(), response: { amount: 10n } }),
    );

    // Assess
    expect(error.code).toBe('SERIALIZATION_ERROR');
    expect(error.message).toBe(
      'Record field "response" cannot be stored exactly: $.amount is a bigint',
    );
    expect(error.context).toEqual({ operation: 'set', key: 'held', path: '$.amount' });
    await expectNothingWritten();
  });

  it('rejects a circular response as SERIALIZATION_ERROR naming where the cycle closes', async () => {
    // Prepare
    const circular: Record<string, unknown> = { id: 1 };
    circular.self = circular;

    // Act
    const error = await rejection(
      env.adapter().set('held', { ...validRecord(), response: circular }),
    );

    // Assess
    expect(error.code).toBe('SERIALIZATION_ERROR');
    expect(error.message).toBe(
      'Record field "response" cannot be stored exactly: $.self is a circular reference (back to $)',
    );
    expect(error.context).toMatchObject({ path: '$.self' });
    await expectNothingWritten();
  });

  it('rejects a response whose JSON would change it (NaN, a Map, a function) before any request', async () => {
    // Each refused kind is in exactRecords.test.ts; here, that the held lock and the stored
    // record are left exactly as they were.
    for (const response of [{ n: Number.NaN }, { m: new Map() }, { f: () => 1 }]) {
      // Act
      const held = await rejection(env.adapter().set('held', { ...validRecord(), response }));
      const stored = await rejection(env.adapter().set('stored', { ...validRecord(), response }));

      // Assess
      expect(held.code).toBe('SERIALIZATION_ERROR');
      expect(stored.code).toBe('SERIALIZATION_ERROR');
    }
    await expectNothingWritten();
    expect((await env.adapter().get('stored'))?.response).toEqual({ kept: true });
  });
});

describe('ElectroDynamoAdapter durations', () => {
  it.each([
    ['acquireLock', 'ttlMs', (a: ElectroDynamoAdapter, v: number) => a.acquireLock('k', v)],
    [
      'waitForLock',
      'timeoutMs',
      (a: ElectroDynamoAdapter, v: number) => a.waitForLock('held', v, 10),
    ],
    [
      'waitForLock',
      'pollIntervalMs',
      (a: ElectroDynamoAdapter, v: number) => a.waitForLock('held', 1_000, v),
    ],
  ])(
    '%s rejects %s of 0, -1 and NaN with INVALID_CONFIG naming it',
    async (operation, name, call) => {
      for (const value of [0, -1, Number.NaN]) {
        // Act
        const error = await rejection(call(env.adapter(), value));

        // Assess
        expect(error.code).toBe('INVALID_CONFIG');
        expect(error.message).toBe(
          `${operation}: ${name} must be a finite number of milliseconds > 0 (got ${String(value)})`,
        );
      }
      await expectNothingWritten();
    },
  );
});

describe('ElectroDynamoAdapter construction', () => {
  it.each([
    ['no table', { table: undefined }, /"table" must be a non-empty string/],
    ['no prefix', { prefix: undefined }, /"prefix" must be a non-empty string/],
    [
      'no client',
      { client: undefined },
      /"client" must be a DynamoDBClient or DynamoDBDocumentClient/,
    ],
    ['an empty pkField', { pkField: '' }, /"pkField" must be a non-empty string/],
    ['an unknown key field option', { partitionKey: 'PK' }, /unknown option "partitionKey"/],
  ])('rejects %s with INVALID_CONFIG', (_label, override, message) => {
    // Act
    let error: unknown;
    try {
      env.adapter(override as never);
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((error as Error).message).toMatch(message);
  });
});

describe('ElectroDynamoAdapter against a table that does not fit', () => {
  it('a missing table surfaces as STORAGE_ERROR naming the table, operation and key', async () => {
    // Act
    const error = await rejection(env.adapter({ table: 'no-such-table' }).get('k'));

    // Assess
    expect(error).toMatchObject({
      code: 'STORAGE_ERROR',
      context: { operation: 'get', table: 'no-such-table', key: 'k' },
    });
    expect(error.message).toContain('on table "no-such-table"');
    expect(error.cause).toMatchObject({ name: 'ResourceNotFoundException' });
    expect(error.getStatusCode()).toBe(503);
  });

  it('key attribute names the table does not have surface as STORAGE_ERROR saying which names were used', async () => {
    // Prepare: a table keyed PK/SK, an adapter left on the pk/sk defaults
    const client = createClient(env.endpoint);
    await createTable(client, 'upper-keys', { pk: 'PK', sk: 'SK' });

    // Act
    const error = await rejection(env.adapter({ table: 'upper-keys' }).set('k', validRecord()));

    // Assess
    expect(error.code).toBe('STORAGE_ERROR');
    expect(error.cause).toMatchObject({ name: 'ValidationException' });
    expect(error.message).toContain(
      "the adapter's key attributes are pk/sk; `electrodb-idempotency check` compares them with the table's key schema",
    );
    client.destroy();
  });
});
