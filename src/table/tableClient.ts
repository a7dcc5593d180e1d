import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';

/** Either client the adapter accepts. */
export type DynamoClient = DynamoDBClient | DynamoDBDocumentClient;

export function requireClient(caller: string, client: unknown): DynamoClient {
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as { send?: unknown }).send !== 'function'
  ) {
    throw createError(
      IdempotencyErrorCode.INVALID_CONFIG,
      `${caller}: option "client" must be a DynamoDBClient or DynamoDBDocumentClient`,
      { context: { option: 'client' } },
    );
  }
  return client as DynamoClient;
}

/**
 * The client typed as a plain `DynamoDBClient`, for control-plane commands and waiters.
 * A `DynamoDBDocumentClient` shares its base client's config and middleware stack and sends
 * any command as is (it only translates its own item commands), so only the types differ.
 */
export function asBaseClient(client: DynamoClient): DynamoDBClient {
  return client as DynamoDBClient;
}

/** `Name: message` of an AWS error, the form the AWS documentation and console use. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // dynalite answers some errors with an empty message; the name alone still says what happened.
  return error.message === '' ? error.name : `${error.name}: ${error.message}`;
}

/** The client's region, for messages; undefined when it has none configured. */
export async function regionOf(client: DynamoClient): Promise<string | undefined> {
  try {
    return await client.config.region();
  } catch {
    return undefined;
  }
}
