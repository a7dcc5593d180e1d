import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import { createTable } from '../support/backend.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

function constructionError(options: Partial<ElectroDynamoAdapterOptions>): unknown {
  try {
    new ElectroDynamoAdapter({ client: env.client, table: env.table, prefix: 'idem', ...options });
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('ElectroDynamoAdapter options', () => {
  it.each([
    [{ table: '' }, /"table" must be a non-empty string/],
    [{ prefix: '' }, /"prefix" must be a non-empty string/],
    [{ prefix: 'a#b' }, /"prefix" \("a#b"\) must not contain the separator "#"/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal ${ is the input under test
    [{ prefix: 'a${b}' }, /"prefix" must not contain "\$\{"/],
    [{ pkField: 'sk' }, /"pkField" and "skField" must differ/],
    [{ ttlField: 'owner' }, /"ttlField" \("owner"\) clashes/],
    [{ client: {} as never }, /"client" must be a DynamoDBClient or DynamoDBDocumentClient/],
    [{ pkfield: 'PK' } as never, /unknown option "pkfield"/],
    [{ lockRenewal: true } as never, /"lockRenewal" must be false or \{ maxHoldMs\?: number \}/],
    [{ lockRenewal: { maxHoldMs: 0 } }, /"lockRenewal.maxHoldMs" must be a positive number/],
    [{ lockRenewal: { maxHoldMs: Number.NaN } }, /"lockRenewal.maxHoldMs" must be a positive/],
    [{ lockRenewal: { maxHold: 1 } } as never, /unknown option "lockRenewal.maxHold"/],
  ])('rejects %j with INVALID_CONFIG naming the problem', (options, message) => {
    // Act
    const error = constructionError(options);

    // Assess
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((error as Error).message).toMatch(message);
  });

  it('accepts a DynamoDBDocumentClient as well as a DynamoDBClient', async () => {
    // Prepare
    const documentClient = DynamoDBDocumentClient.from(env.client);
    const adapter = new ElectroDynamoAdapter({
      client: documentClient,
      table: env.table,
      prefix: 'doc',
    });

    // Act
    await adapter.set('k', { response: { n: 1 }, createdAt: Date.now(), ttl: 60_000 });

    // Assess
    expect((await env.adapter({ prefix: 'doc' }).get('k'))?.response).toEqual({ n: 1 });
  });

  it('uses the configured separator', async () => {
    // Prepare
    const adapter = env.adapter({ prefix: 'idem', separator: '|' });

    // Act
    await adapter.set('sep', { response: 1, createdAt: Date.now(), ttl: 60_000 });

    // Assess
    expect((await env.scan()).some((i) => i.pk === 'idem|sep' && i.sk === 'idem')).toBe(true);
  });
});

describe('ElectroDynamoAdapter on other key and TTL attribute names', () => {
  it('works on a PK/SK table and writes the TTL attribute under ttlField', async () => {
    // Prepare
    await createTable(env.client, 'upper-keys', { pk: 'PK', sk: 'SK' });
    const adapter = new ElectroDynamoAdapter({
      client: env.client,
      table: 'upper-keys',
      prefix: 'IDEM',
      pkField: 'PK',
      skField: 'SK',
      ttlField: 'ttl',
    });
    const record = { response: { ok: 1 }, createdAt: 1_800_000_000_000, ttl: 9_000_000_000 };

    // Act
    expect(await adapter.acquireLock('K', 60_000)).toBe(true);
    await adapter.set('K', record);

    // Assess
    expect(await adapter.get('K')).toStrictEqual(record);
    const { Items = [] } = await DynamoDBDocumentClient.from(env.client).send(
      new ScanCommand({ TableName: 'upper-keys' }),
    );
    expect(Items).toHaveLength(1);
    expect(Items[0]).toMatchObject({
      PK: 'IDEM#K',
      SK: 'IDEM',
      ttl: 1_809_000_000,
      ttlMs: 9_000_000_000,
    });
    expect(Items[0]).not.toHaveProperty('expiresAt');
  });
});
