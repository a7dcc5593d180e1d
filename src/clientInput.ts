import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { invalidConfig } from './errors/invalidConfig.js';

/** Either client the adapter accepts. */
export type DynamoClient = DynamoDBClient | DynamoDBDocumentClient;

export function requireClient(caller: string, client: unknown): DynamoClient {
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as { send?: unknown }).send !== 'function'
  ) {
    invalidConfig(
      caller,
      'option "client" must be a DynamoDBClient or DynamoDBDocumentClient',
      'client',
    );
  }
  return client as DynamoClient;
}
