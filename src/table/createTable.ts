import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type KeySchemaElement,
  type TableDescription,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { type DynamoClient, requireClient } from '../clientInput.js';
import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import { invalidConfig } from '../errors/invalidConfig.js';
import { requireName, resolveTableFields, validateTableFields } from '../tableFields.js';
import { asBaseClient, describeAwsError } from './tableClient.js';

const CALLER = 'createIdempotencyTable';

/** Options of `createIdempotencyTable`; names default as in the adapter. */
export interface CreateIdempotencyTableOptions {
  /** Name of the table to create. */
  table: string;
  /** Partition key attribute. Default `pk`. */
  pkField?: string;
  /** Sort key attribute, or `null` for a partition-key-only table. Default `sk`. */
  skField?: string | null;
  /** Attribute TTL is enabled on. Default `expiresAt`. */
  ttlField?: string;
  /** Default `PAY_PER_REQUEST`; `PROVISIONED` gets 5 read and 5 write capacity units. */
  billingMode?: 'PAY_PER_REQUEST' | 'PROVISIONED';
}

const PROVISIONED_THROUGHPUT = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } as const;

// Seconds. Creation takes seconds on AWS and is instant on DynamoDB Local and dynalite; the
// waiter checks at once, then backs off from 1 s (its default of 20 s would idle needlessly).
const WAIT = { maxWaitTime: 120, minDelay: 1, maxDelay: 5 } as const;

function storageError(step: string, table: string, cause: unknown): Error {
  const reason =
    cause instanceof Error && cause.name === 'ResourceInUseException'
      ? `table "${table}" already exists`
      : describeAwsError(cause);
  return createError(IdempotencyErrorCode.STORAGE_ERROR, `${CALLER}: ${step} failed: ${reason}`, {
    cause,
    context: { operation: CALLER, table },
  });
}

/**
 * Creates a table the adapter can use, for local development and tests: string keys named
 * `pkField`/`skField` (partition key only when `skField` is null), waits until it is ACTIVE,
 * and points TTL at `ttlField`. Returns the table's description.
 *
 * Throws INVALID_CONFIG for bad options and STORAGE_ERROR (AWS error as `cause`) when a
 * request fails, including when the table already exists.
 */
export async function createIdempotencyTable(
  client: DynamoClient,
  options: CreateIdempotencyTableOptions,
): Promise<TableDescription> {
  const base = asBaseClient(requireClient(CALLER, client));
  const table = requireName(CALLER, 'table', options?.table);
  const { pkField, skField, ttlField } = resolveTableFields(CALLER, options);
  const billingMode = options.billingMode ?? 'PAY_PER_REQUEST';
  if (billingMode !== 'PAY_PER_REQUEST' && billingMode !== 'PROVISIONED') {
    invalidConfig(
      CALLER,
      'option "billingMode" must be "PAY_PER_REQUEST" or "PROVISIONED"',
      'billingMode',
    );
  }
  // The adapter would refuse a table keyed on an attribute it stores itself.
  validateTableFields(CALLER, { pkField, skField, ttlField });

  const keys: string[] = skField === null ? [pkField] : [pkField, skField];
  const attributeDefinitions: AttributeDefinition[] = keys.map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  const keySchema: KeySchemaElement[] = keys.map((name, index) => ({
    AttributeName: name,
    KeyType: index === 0 ? 'HASH' : 'RANGE',
  }));

  try {
    await base.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: attributeDefinitions,
        KeySchema: keySchema,
        BillingMode: billingMode,
        ...(billingMode === 'PROVISIONED' ? { ProvisionedThroughput: PROVISIONED_THROUGHPUT } : {}),
      }),
    );
  } catch (cause) {
    throw storageError('CreateTable', table, cause);
  }

  try {
    await waitUntilTableExists({ client: base, ...WAIT }, { TableName: table });
  } catch (cause) {
    throw storageError(
      `waiting ${WAIT.maxWaitTime} s for the table to become ACTIVE`,
      table,
      cause,
    );
  }

  try {
    await base.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: ttlField, Enabled: true },
      }),
    );
  } catch (cause) {
    // dynalite does not implement UpdateTimeToLive (nor TTL deletion): the table is still
    // usable, and the adapter never relies on TTL, so only that answer is tolerated.
    if (!(cause instanceof Error && cause.name === 'UnknownOperationException')) {
      throw storageError('UpdateTimeToLive', table, cause);
    }
  }

  let description: TableDescription | undefined;
  try {
    ({ Table: description } = await base.send(new DescribeTableCommand({ TableName: table })));
  } catch (cause) {
    throw storageError('DescribeTable', table, cause);
  }
  if (description === undefined) {
    throw storageError('DescribeTable', table, new Error('no table in the response'));
  }
  return description;
}
