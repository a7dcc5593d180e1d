import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoClient } from '../clientInput.js';

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
