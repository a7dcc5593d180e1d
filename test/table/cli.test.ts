import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import {
  ACCESS_KEY_ID,
  createClient,
  createTable,
  implementsTtl,
  type LocalDynamo,
  startBackend,
} from '../support/backend.js';

let dynamo: LocalDynamo;
let client: DynamoDBClient;
beforeAll(async () => {
  // The CLI builds its own client, which takes credentials from the environment.
  vi.stubEnv('AWS_ACCESS_KEY_ID', ACCESS_KEY_ID);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  dynamo = await startBackend();
  client = createClient(dynamo.endpoint);
  await createTable(client, 'app-table');
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
  vi.unstubAllEnvs();
});

/** Runs the CLI against the local dynalite, capturing what it writes. */
async function cli(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const local = argv.length > 0 ? ['--endpoint', dynamo.endpoint, '--region', 'local'] : [];
  const code = await runCli([...argv, ...local], {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}

describe('runCli with options the adapter refuses', () => {
  it.each([
    ['check', '--table', 'app-table', '--prefix', 'idem', '--ttl-field', 'cacheKey'],
    ['create-table', '--table', 'other-table', '--ttl-field', 'cacheKey'],
  ])('%s exits 2 for a reserved field name, naming it', async (...argv) => {
    // Act
    const { code, stderr } = await cli(...argv);

    // Assess
    expect(code).toBe(2);
    expect(stderr.join('\n')).toContain('option "ttlField" ("cacheKey") clashes');
  });
});

describe('runCli check', () => {
  it('exits 0 on a good table, printing one line per check and a summary', async () => {
    // Act
    const { code, stdout, stderr } = await cli('check', '--table', 'app-table', '--prefix', 'idem');

    // Assess
    expect(code).toBe(0);
    expect(stderr).toEqual([]);
    expect(stdout).toHaveLength(5);
    expect(stdout[0]).toBe('PASS  table exists   Table "app-table" is ACTIVE');
    expect(stdout[1]).toBe('PASS  key schema     Table key is pk/sk, strings, as the options say');
    expect(stdout[2]).toMatch(/^WARN {2}ttl {12}TTL is disabled on table "app-table"/);
    expect(stdout[3]).toMatch(
      /^PASS {2}round trip {5}Set, read back and deleted a record at "idem#__check__/,
    );
    expect(stdout[4]).toBe(
      'Ready: table "app-table" can hold idempotency items under prefix "idem" (3 passed, 1 warning, 0 failed)',
    );
  });

  it('exits 1 when a check fails, printing the failure', async () => {
    // Act
    const { code, stdout } = await cli('check', '--table', 'no-such-table', '--prefix', 'idem');

    // Assess
    expect(code).toBe(1);
    expect(stdout[0]).toMatch(
      /^FAIL {2}table exists {3}Table "no-such-table" not found in region "local"/,
    );
    expect(stdout.at(-1)).toBe(
      'Not ready: fix the failed check above (0 passed, 0 warnings, 1 failed)',
    );
  });

  it('exits 1 and names the options to use when the key names differ', async () => {
    // Act
    const { code, stdout } = await cli(
      'check',
      '--table',
      'app-table',
      '--prefix',
      'idem',
      '--pk-field',
      'PK',
      '--sk-field',
      'SK',
    );

    // Assess
    expect(code).toBe(1);
    expect(stdout[1]).toContain(
      'FAIL  key schema     Table key is pk/sk but the options say PK/SK',
    );
  });
});

describe('runCli create-table', () => {
  it('creates a table that check then passes with the same names', async () => {
    // Act
    const created = await cli(
      'create-table',
      '--table',
      'cli-table',
      '--pk-field',
      'PK',
      '--sk-field',
      'SK',
      '--ttl-field',
      'ttl',
    );
    const checked = await cli(
      'check',
      '--table',
      'cli-table',
      '--prefix',
      'idem',
      '--pk-field',
      'PK',
      '--sk-field',
      'SK',
      '--ttl-field',
      'ttl',
    );

    // Assess
    expect(created.code).toBe(0);
    expect(created.stdout[0]).toBe('Created table "cli-table" (key PK/SK, ACTIVE)');
    expect(created.stdout[1]).toMatch(
      implementsTtl
        ? /^PASS {2}ttl {12}TTL is enabled on "ttl"$/
        : /^WARN {2}ttl {12}TTL is disabled/,
    );
    expect(checked.code).toBe(0);
  });

  it('creates a partition-key-only table with --no-sk', async () => {
    // Act
    const { code, stdout } = await cli('create-table', '--table', 'cli-pk-table', '--no-sk');

    // Assess
    expect(code).toBe(0);
    expect(stdout[0]).toBe('Created table "cli-pk-table" (key pk (no sort key), ACTIVE)');
    const { Table } = await client.send(new DescribeTableCommand({ TableName: 'cli-pk-table' }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
  });

  it('exits 1 with the reason on stderr when the table exists', async () => {
    // Act
    const { code, stdout, stderr } = await cli('create-table', '--table', 'app-table');

    // Assess
    expect(code).toBe(1);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([
      'electrodb-idempotency: createIdempotencyTable: CreateTable failed: table "app-table" already exists',
    ]);
  });
});

describe('runCli usage', () => {
  it('prints the usage on stdout and exits 0 for --help', async () => {
    // Act
    const { code, stdout, stderr } = await cli('--help');

    // Assess
    expect(code).toBe(0);
    expect(stdout.join('\n')).toMatch(/^Usage:\n {2}electrodb-idempotency check --table/);
    expect(stderr).toEqual([]);
  });

  it.each([
    [[], /a command is required/],
    [['drop-table', '--table', 't'], /unknown command "drop-table"/],
    [['check', '--table', 'app-table'], /check needs --prefix/],
    [['check', '--prefix', 'idem'], /check needs --table/],
    [['check', '--table', 'app-table', '--prefix', 'idem', '--bogus'], /Unknown option '--bogus'/],
    [['check', '--table', 'app-table', '--prefix', ''], /--prefix must not be empty/],
    [['create-table', '--table', 't', '--sk-field', 'sk', '--no-sk'], /exclude each other/],
    [
      ['create-table', '--table', 't', '--prefix', 'idem'],
      /--prefix is not an option of create-table/,
    ],
    [['check', '--table', 'app-table', '--prefix', 'idem', 'extra'], /unexpected argument "extra"/],
  ])('exits 2 for %j, explaining on stderr', async (argv, message) => {
    // Act
    const { code, stdout, stderr } = await cli(...argv);

    // Assess
    expect(code).toBe(2);
    expect(stdout).toEqual([]);
    expect(stderr[0]).toMatch(/^electrodb-idempotency: /);
    expect(stderr[0]).toMatch(message);
    expect(stderr.join('\n')).toContain('Usage:');
  });

  it('exits 2 for an endpoint that is not a URL', async () => {
    // Act
    const stderr: string[] = [];
    const code = await runCli(
      ['check', '--table', 'app-table', '--prefix', 'idem', '--endpoint', 'localhost 8000'],
      { stdout: () => undefined, stderr: (line) => stderr.push(line) },
    );

    // Assess
    expect(code).toBe(2);
    expect(stderr[0]).toMatch(/--endpoint must be a URL/);
  });
});
