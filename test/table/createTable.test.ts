import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import { checkTable } from '../../src/table/checkTable.js';
import { createIdempotencyTable } from '../../src/table/createTable.js';
import { createClient, implementsTtl, type LocalDynamo, startBackend } from '../support/backend.js';
import { recordCommands } from '../support/requestCounter.js';

let dynamo: LocalDynamo;
let client: DynamoDBClient;
beforeAll(async () => {
  dynamo = await startBackend();
  client = createClient(dynamo.endpoint);
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
});

describe('createIdempotencyTable', () => {
  it('creates an ACTIVE on-demand table with string pk/sk keys', async () => {
    // Act
    const table = await createIdempotencyTable(client, { table: 'fresh-table' });

    // Assess
    expect(table).toMatchObject({
      TableName: 'fresh-table',
      TableStatus: 'ACTIVE',
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
    });
  });

  it('makes a table that checkTable accepts with the same names', async () => {
    // Prepare
    await createIdempotencyTable(client, {
      table: 'named-table',
      pkField: 'PK',
      skField: 'SK',
      ttlField: 'ttl',
    });

    // Act
    const report = await checkTable({
      client,
      table: 'named-table',
      prefix: 'idem',
      pkField: 'PK',
      skField: 'SK',
      ttlField: 'ttl',
    });

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => check.status)).toEqual([
      'pass',
      'pass',
      implementsTtl ? 'pass' : 'warn',
      'pass',
    ]);
    expect(report.checks[2]?.message).toMatch(
      implementsTtl ? /^TTL is enabled on "ttl"$/ : /^TTL is disabled on table "named-table"/,
    );
  });

  it('asks for TTL on ttlField (dynalite, which does not implement UpdateTimeToLive, is tolerated)', async () => {
    // Prepare
    const recorded = createClient(dynamo.endpoint);
    const commands = recordCommands(recorded);

    // Act
    await createIdempotencyTable(recorded, { table: 'ttl-table', ttlField: 'ttl' });
    recorded.destroy();

    // Assess
    expect(commands.sent.find((sent) => sent.name === 'UpdateTimeToLiveCommand')?.input).toEqual({
      TableName: 'ttl-table',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('creates a partition-key-only table when skField is null', async () => {
    // Act
    const table = await createIdempotencyTable(client, { table: 'pk-table', skField: null });

    // Assess
    expect(table.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const report = await checkTable({ client, table: 'pk-table', prefix: 'idem', skField: null });
    expect(report.checks.find((check) => check.name === 'key schema')?.status).toBe('pass');
    expect(report.checks.find((check) => check.name === 'round trip')?.status).toBe('pass');
    expect(report.ok).toBe(true);
  });

  it('gives a PROVISIONED table 5 read and 5 write capacity units', async () => {
    // Act
    const table = await createIdempotencyTable(client, {
      table: 'provisioned-table',
      billingMode: 'PROVISIONED',
    });

    // Assess
    expect(table.ProvisionedThroughput).toMatchObject({
      ReadCapacityUnits: 5,
      WriteCapacityUnits: 5,
    });
  });

  it('waits while the table is CREATING', async () => {
    // Prepare: a dynalite that keeps new tables CREATING for a while, as DynamoDB does
    const server = dynalite({ createTableMs: 200 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const slow = createClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    // Act
    const table = await createIdempotencyTable(slow, { table: 'slow-table' });

    // Assess
    expect(table.TableStatus).toBe('ACTIVE');
    slow.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('throws STORAGE_ERROR saying the table already exists', async () => {
    // Prepare
    await createIdempotencyTable(client, { table: 'taken-table' });

    // Act
    const error = await createIdempotencyTable(client, { table: 'taken-table' }).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({ code: 'STORAGE_ERROR' });
    expect((error as Error).message).toBe(
      'createIdempotencyTable: CreateTable failed: table "taken-table" already exists',
    );
  });

  it.each([
    [{ table: '' }, /option "table" must be a non-empty string/],
    [{ table: 'x-table', pkField: 'id', skField: 'id' }, /"pkField" and "skField" must differ/],
    [{ table: 'x-table', ttlField: 'pk' }, /"ttlField" must not be a key attribute/],
    [{ table: 'x-table', skField: 'owner' }, /"skField" \("owner"\) clashes/],
    [{ table: 'x-table', billingMode: 'FREE' as never }, /"billingMode" must be/],
  ])('rejects %j with INVALID_CONFIG before sending anything', async (options, message) => {
    // Prepare
    const recorded = createClient(dynamo.endpoint);
    const commands = recordCommands(recorded);

    // Act
    const error = await createIdempotencyTable(recorded, options).catch(
      (caught: unknown) => caught,
    );
    recorded.destroy();

    // Assess
    expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((error as Error).message).toMatch(message);
    expect(commands.sent).toEqual([]);
  });
});
