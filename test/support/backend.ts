import { randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { inject } from 'vitest';
import { type BackendName, readBackendName } from './backendName.mjs';

export type { BackendName };

/**
 * The DynamoDB the suite runs on: `TEST_BACKEND=dynalite` (default: in-process, one server per
 * test file), `dynamodb-local` (AWS's DynamoDB Local, one per run, started by the global setup)
 * or `endpoint` (`TEST_DYNAMODB_ENDPOINT`, a server you started).
 */
export const backend: BackendName = readBackendName(process.env);

/**
 * dynalite implements none of the TimeToLive APIs: UpdateTimeToLive fails and TTL always reads
 * back as disabled. DynamoDB and DynamoDB Local enable it.
 */
export const implementsTtl = backend !== 'dynalite';

/**
 * dynalite ignores `ReturnValuesOnConditionCheckFailure`; DynamoDB and DynamoDB Local return
 * the item a failed condition was checked against.
 */
export const returnsItemOnConditionFailure = backend !== 'dynalite';

/**
 * Each test file signs with an access key of its own. DynamoDB Local (without `-sharedDb`) keeps
 * one database per access key and region, and LocalStack one account per 12-digit key, so files
 * sharing one server never see each other's tables. dynalite ignores credentials.
 */
export const ACCESS_KEY_ID = String(randomInt(100_000_000_000, 999_999_999_999));

export interface LocalDynamo {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** A DynamoDB endpoint on 127.0.0.1 for this test file: its own dynalite, or the run's server. */
export async function startBackend(): Promise<LocalDynamo> {
  if (backend !== 'dynalite') {
    // The server outlives the file; the per-file access key keeps its tables apart.
    return { endpoint: inject('dynamoEndpoint'), close: async () => {} };
  }
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function createClient(
  endpoint: string,
  config: Partial<DynamoDBClientConfig> = {},
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'local' },
    ...config,
  });
}

/** A single table with string keys, the usual shape of a single-table design. */
export async function createTable(
  client: DynamoDBClient,
  table: string,
  keys: { pk: string; sk: string } = { pk: 'pk', sk: 'sk' },
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: keys.pk, AttributeType: 'S' },
        { AttributeName: keys.sk, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: keys.pk, KeyType: 'HASH' },
        { AttributeName: keys.sk, KeyType: 'RANGE' },
      ],
    }),
  );
}
