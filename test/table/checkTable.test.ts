import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import { checkTable } from '../../src/table/checkTable.js';
import { createIdempotencyTable } from '../../src/table/createTable.js';
import { createClient, createTable, type LocalDynamo, startBackend } from '../support/backend.js';
import { failCommands } from '../support/faults.js';

let dynamo: LocalDynamo;
let client: DynamoDBClient;
beforeAll(async () => {
  dynamo = await startBackend();
  client = createClient(dynamo.endpoint);
  await createTable(client, 'app-table');
  await createTable(client, 'upper-table', { pk: 'PK', sk: 'SK' });
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
});

describe('checkTable', () => {
  it('passes a pk/sk table, warning only that TTL is off (dynalite has no TTL)', async () => {
    // Act
    const report = await checkTable({ client, table: 'app-table', prefix: 'idem' });

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks.map(({ name, status }) => `${name}:${status}`)).toEqual([
      'table exists:pass',
      'key schema:pass',
      'ttl:warn',
      'round trip:pass',
    ]);
    expect(report.checks[0]?.message).toBe('Table "app-table" is ACTIVE');
    expect(report.checks[2]?.message).toContain(
      'aws dynamodb update-time-to-live --table-name app-table --time-to-live-specification "AttributeName=expiresAt,Enabled=true"',
    );
    expect(report.checks[3]?.message).toMatch(
      /^Set, read back and deleted a record at "idem#__check__[0-9a-f-]{36}"$/,
    );
  });

  it('leaves no item behind after the round trip', async () => {
    // Act
    const report = await checkTable({ client, table: 'app-table', prefix: 'clean' });

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks.find((check) => check.name === 'round trip')?.status).toBe('pass');
    const { Items = [] } = await DynamoDBDocumentClient.from(client).send(
      new ScanCommand({ TableName: 'app-table', ConsistentRead: true }),
    );
    expect(Items.filter((item) => String(item.pk).startsWith('clean#'))).toEqual([]);
  });

  it('reads the record back from the table even when the options enable the local cache', async () => {
    // Prepare: reads denied, as a policy without dynamodb:GetItem would
    const noReads = createClient(dynamo.endpoint);
    failCommands(noReads, (name) => name === 'GetItemCommand', {
      name: 'AccessDeniedException',
      message: 'denied',
    });

    // Act
    const report = await checkTable({
      client: noReads,
      table: 'app-table',
      prefix: 'idem',
      localCache: { maxEntries: 10 },
    });

    // Assess
    expect(report.ok).toBe(false);
    expect(report.checks.find((check) => check.name === 'round trip')?.message).toMatch(
      /^get failed: AccessDeniedException: denied/,
    );
    noReads.destroy();
  });

  it('rejects a key or TTL field the adapter stores itself with INVALID_CONFIG, before any request', async () => {
    await expect(
      checkTable({ client, table: 'app-table', prefix: 'idem', ttlField: 'cacheKey' }),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining('option "ttlField" ("cacheKey") clashes'),
    });
  });

  it('sends its describe commands through a DynamoDBDocumentClient too', async () => {
    // Prepare
    const documentClient = DynamoDBDocumentClient.from(client);

    // Act
    const report = await checkTable({ client: documentClient, table: 'app-table', prefix: 'doc' });

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks).toHaveLength(4);
  });

  it('fails naming a missing table, and runs no other check', async () => {
    // Act
    const report = await checkTable({ client, table: 'no-such-table', prefix: 'idem' });

    // Assess
    expect(report).toEqual({
      ok: false,
      checks: [
        {
          name: 'table exists',
          status: 'fail',
          message:
            'Table "no-such-table" not found in region "local": check the table name and the client\'s region and endpoint (no other check run)',
        },
      ],
    });
  });

  it('reports a PK/SK table checked with the default pk/sk, naming the options to pass', async () => {
    // Act
    const report = await checkTable({ client, table: 'upper-table', prefix: 'idem' });

    // Assess
    expect(report.ok).toBe(false);
    const keySchema = report.checks.find((check) => check.name === 'key schema');
    expect(keySchema?.status).toBe('fail');
    expect(keySchema?.message).toBe(
      'Table key is PK/SK but the options say pk/sk: pass { pkField: "PK", skField: "SK" } (round trip not attempted)',
    );
    expect(report.checks.map((check) => check.name)).not.toContain('round trip');
  });

  it('passes the PK/SK table with the options it suggested', async () => {
    // Act
    const report = await checkTable({
      client,
      table: 'upper-table',
      prefix: 'idem',
      pkField: 'PK',
      skField: 'SK',
    });

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks.find((check) => check.name === 'round trip')?.status).toBe('pass');
  });

  it('suggests skField: null for a partition-key-only table', async () => {
    // Prepare
    await createIdempotencyTable(client, { table: 'pk-only-table', skField: null });

    // Act
    const report = await checkTable({ client, table: 'pk-only-table', prefix: 'idem' });

    // Assess
    expect(report.checks.find((check) => check.name === 'key schema')?.message).toContain(
      'pass { pkField: "pk", skField: null }',
    );
  });

  it('fails a table with a numeric key as not fixable by options', async () => {
    // Prepare
    await client.send(
      new CreateTableCommand({
        TableName: 'numeric-table',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'N' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );

    // Act
    const report = await checkTable({ client, table: 'numeric-table', prefix: 'idem' });

    // Assess
    expect(report.ok).toBe(false);
    expect(report.checks.find((check) => check.name === 'key schema')?.message).toMatch(
      /"pk" is N: the adapter writes string keys/,
    );
  });

  it('fails the round trip with the AWS error when a write is denied', async () => {
    // Prepare
    const denied = createClient(dynamo.endpoint);
    failCommands(denied, (name) => name === 'PutItemCommand', {
      name: 'AccessDeniedException',
      message: 'User is not authorized to perform: dynamodb:PutItem',
    });

    // Act
    const report = await checkTable({ client: denied, table: 'app-table', prefix: 'idem' });
    denied.destroy();

    // Assess
    expect(report.ok).toBe(false);
    expect(report.checks.find((check) => check.name === 'round trip')).toEqual({
      name: 'round trip',
      status: 'fail',
      message:
        'set failed: AccessDeniedException: User is not authorized to perform: dynamodb:PutItem',
    });
  });

  it('fails the round trip with the reason the adapter rejects the options', async () => {
    // Act
    const report = await checkTable({ client, table: 'app-table', prefix: 'a#b' });

    // Assess
    expect(report.ok).toBe(false);
    expect(report.checks.find((check) => check.name === 'round trip')?.message).toMatch(
      /^The adapter rejects these options: .*"prefix" \("a#b"\) must not contain the separator "#"/,
    );
  });

  it('warns, without failing, when it may not read the TTL setting', async () => {
    // Prepare
    const denied = createClient(dynamo.endpoint);
    failCommands(denied, (name) => name === 'DescribeTimeToLiveCommand', {
      name: 'AccessDeniedException',
      message: 'not authorized',
    });

    // Act
    const report = await checkTable({ client: denied, table: 'app-table', prefix: 'idem' });
    denied.destroy();

    // Assess
    expect(report.ok).toBe(true);
    expect(report.checks.find((check) => check.name === 'ttl')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('AccessDeniedException: not authorized'),
    });
  });

  it('throws INVALID_CONFIG when there is no client to check with', async () => {
    // Act
    const error = await checkTable({ table: 'app-table', prefix: 'idem' } as never).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((error as Error).message).toMatch(/checkTable: option "client"/);
  });
});
