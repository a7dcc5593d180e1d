import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Entity, Service } from 'electrodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import { createTable } from '../support/backend.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { isRenewal } from '../support/requestKinds.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
let documentClient: DynamoDBDocumentClient;
beforeAll(async () => {
  env = await startTestTable();
  documentClient = DynamoDBDocumentClient.from(env.client);
});
afterAll(() => env.close());

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 60_000 });

async function scan(table: string) {
  const { Items = [] } = await documentClient.send(new ScanCommand({ TableName: table }));
  return Items;
}

/** Every method once, the way the core and its integrations use them. */
async function exerciseAllMethods(adapter: ElectroDynamoAdapter) {
  await executeLikeCore(adapter, 'flow', async () => 'ran');
  await executeLikeCore(adapter, 'flow', async () => 'not run');
  await expect(
    executeLikeCore(adapter, 'throws', async () => {
      throw new Error('handler failed');
    }),
  ).rejects.toThrow('handler failed');
  expect(await adapter.acquireLock('held', 60_000)).toBe(true);
  expect(await adapter.acquireLock('held', 60_000)).toBe(false);
  await expect(adapter.waitForLock('held', 50, 10)).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
  await adapter.releaseLock('held');
  await adapter.waitForLock('held', 1_000, 10);
  await adapter.set('direct', record('d'));
  expect((await adapter.get('direct'))?.response).toBe('d');
  await adapter.delete('direct');
  expect(await adapter.get('direct')).toBeNull();
}

describe('ElectroDynamoAdapter on tables of each key shape', () => {
  it.each<[string, { pk: string; sk: string | null }, Partial<ElectroDynamoAdapterOptions>]>([
    ['pk/sk (defaults)', { pk: 'pk', sk: 'sk' }, {}],
    ['PK/SK', { pk: 'PK', sk: 'SK' }, { pkField: 'PK', skField: 'SK' }],
    [
      'custom names',
      { pk: 'partition_key', sk: 'sort_key' },
      { pkField: 'partition_key', skField: 'sort_key' },
    ],
    ['partition key only', { pk: 'id', sk: null }, { pkField: 'id', skField: null }],
  ])('%s: every method works and items carry only the table keys', async (name, keys, options) => {
    // Prepare
    const table = `shape-${name.replace(/[^a-z]/gi, '')}`;
    const attributes = [{ AttributeName: keys.pk, AttributeType: 'S' as const }];
    const schema = [{ AttributeName: keys.pk, KeyType: 'HASH' as const }];
    if (keys.sk !== null) {
      attributes.push({ AttributeName: keys.sk, AttributeType: 'S' });
      schema.push({ AttributeName: keys.sk, KeyType: 'RANGE' as never });
    }
    await env.client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributes,
        KeySchema: schema,
      }),
    );
    const adapter = new ElectroDynamoAdapter({
      client: env.client,
      table,
      prefix: 'idem',
      ...options,
    });

    // Act
    await exerciseAllMethods(adapter);

    // Assess
    const items = await scan(table);
    expect(items.map((i) => i[keys.pk]).sort()).toEqual(['idem#flow', 'idem#throws']);
    for (const item of items) {
      if (keys.sk === null) {
        expect(Object.keys(item)).not.toContain('sk');
      } else {
        expect(item[keys.sk]).toBe('idem');
      }
      if (keys.pk !== 'pk') expect(Object.keys(item)).not.toContain('pk');
    }
  });

  it('rejects skField null on a table that has a sort key with a STORAGE_ERROR naming the table', async () => {
    // Prepare
    const adapter = env.adapter({ skField: null });

    // Act / Assess
    await expect(adapter.get('k')).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
      context: { table: env.table },
    });
  });
});

describe("ElectroDynamoAdapter in the user's ElectroDB Service", () => {
  it('joins a Service beside two app entities; app queries, collections and GSIs see only app items', async () => {
    // Prepare: an app table with a sparse GSI, the shape many single-table designs have
    await env.client.send(
      new CreateTableCommand({
        TableName: 'service-table',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk'].map((AttributeName) => ({
          AttributeName,
          AttributeType: 'S',
        })),
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    const table = 'service-table';
    const model = (entity: string) => ({ entity, version: '1', service: 'shop' });
    const customers = new Entity(
      {
        model: model('customer'),
        attributes: { customerId: { type: 'string', required: true }, name: { type: 'string' } },
        indexes: {
          primary: {
            collection: 'account',
            pk: { field: 'pk', composite: ['customerId'] },
            sk: { field: 'sk', composite: [] },
          },
        },
      },
      { client: documentClient, table },
    );
    const orders = new Entity(
      {
        model: model('order'),
        attributes: {
          orderId: { type: 'string', required: true },
          customerId: { type: 'string', required: true },
          status: { type: 'string', required: true },
        },
        indexes: {
          primary: {
            collection: 'account',
            pk: { field: 'pk', composite: ['customerId'] },
            sk: { field: 'sk', composite: ['orderId'] },
          },
          byStatus: {
            index: 'gsi1',
            pk: { field: 'gsi1pk', composite: ['status'] },
            sk: { field: 'gsi1sk', composite: ['orderId'] },
          },
        },
      },
      { client: documentClient, table },
    );
    const adapter = new ElectroDynamoAdapter({
      client: documentClient,
      table,
      prefix: 'idem',
      service: 'shop',
    });
    const shop = new Service(
      {
        customers,
        orders,
        idempotencyRecords: adapter.entities.record,
        idempotencyLocks: adapter.entities.lock,
      },
      { client: documentClient, table },
    );
    await customers.put({ customerId: 'c-1', name: 'Ada' }).go();
    await orders.put({ customerId: 'c-1', orderId: 'o-1', status: 'open' }).go();

    // Act
    await exerciseAllMethods(adapter);
    await adapter.acquireLock('in-flight', 60_000);

    // Assess
    const account = await shop.collections.account({ customerId: 'c-1' }).go();
    expect(account.data.customers).toEqual([{ customerId: 'c-1', name: 'Ada' }]);
    expect(account.data.orders).toEqual([{ customerId: 'c-1', orderId: 'o-1', status: 'open' }]);
    expect((await orders.query.byStatus({ status: 'open' }).go()).data).toHaveLength(1);
    const { Items: gsiItems = [] } = await documentClient.send(
      new ScanCommand({ TableName: table, IndexName: 'gsi1' }),
    );
    expect(gsiItems.map((i) => i.__edb_e__)).toEqual(['order']);
    const idempotencyItems = (await scan(table)).filter((i) => String(i.pk).startsWith('idem#'));
    expect(idempotencyItems.length).toBeGreaterThan(0);
    for (const item of idempotencyItems) {
      expect(item).not.toHaveProperty('gsi1pk');
      expect(item).not.toHaveProperty('gsi1sk');
    }
    // The Service reads our items through our entities too.
    const { data: lock } = await shop.entities.idempotencyLocks.get({ cacheKey: 'in-flight' }).go();
    expect(lock?.owner).toEqual(expect.any(String));
    const { Items: direct = [] } = await documentClient.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'idem#flow' },
      }),
    );
    expect(direct).toHaveLength(1);
  });

  it('takes its entity names from the options', async () => {
    // Prepare
    const adapter = env.adapter({
      prefix: 'named',
      entityNames: { record: 'idemRec', lock: 'idemLock' },
    });

    // Act
    await adapter.acquireLock('k', 60_000);
    await adapter.set('k2', record(1));

    // Assess
    const names = (await env.scan())
      .filter((i) => String(i.pk).startsWith('named#'))
      .map((i) => i.__edb_e__)
      .sort();
    expect(names).toEqual(['idemLock', 'idemRec']);
  });
});

describe('ElectroDynamoAdapter key confinement (IAM dynamodb:LeadingKeys)', () => {
  it('every key it reads or writes begins with the prefix, through GetItem, PutItem and DeleteItem only', async () => {
    // Prepare
    await createTable(env.client, 'confined-table');
    const adapter = new ElectroDynamoAdapter({
      client: env.client,
      table: 'confined-table',
      prefix: 'tenant-a',
    });
    env.commands.reset();

    // Act
    await exerciseAllMethods(adapter);
    // A lock held past a third of its ttl, so that its lease renewals are among the requests
    // (300 ms: the shortest lease that is renewed).
    await adapter.acquireLock('renewed', 300);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await adapter.releaseLock('renewed');

    // Assess
    const sent = env.commands.sent;
    expect(sent.length).toBeGreaterThan(10);
    const renewals = sent.filter((c) => isRenewal(c.name, c.input));
    expect(renewals.length).toBeGreaterThan(0);
    expect(new Set(sent.map((c) => c.name))).toEqual(
      new Set(['GetItemCommand', 'PutItemCommand', 'DeleteItemCommand']),
    );
    for (const command of sent) {
      const key = (command.input.Key ?? command.input.Item) as Record<string, unknown>;
      expect(command.input.TableName).toBe('confined-table');
      expect(String(key.pk)).toMatch(/^tenant-a#/);
    }
    const reads = sent.filter((c) => c.name === 'GetItemCommand');
    expect(reads.length).toBeGreaterThan(5);
    for (const read of reads) expect(read.input.ConsistentRead).toBe(true);
  });

  it('two tenants with different prefixes never see or remove each other records', async () => {
    // Prepare
    const tenantA = env.adapter({ prefix: 'ta' });
    const tenantB = env.adapter({ prefix: 'tb' });
    await tenantA.set('order-1', record('A'));

    // Act
    const seenByB = await tenantB.get('order-1');
    await tenantB.delete('order-1');
    const bClaims = await tenantB.acquireLock('order-1', 60_000);

    // Assess
    expect(seenByB).toBeNull();
    expect(bClaims).toBe(true);
    expect((await tenantA.get('order-1'))?.response).toBe('A');
    expect(await tenantA.acquireLock('order-1', 60_000)).toBe(false);
  });
});
