import { DescribeTableCommand, type TableDescription } from '@aws-sdk/client-dynamodb';
import type { DynamoClient } from '../clientInput.js';
import { fail, pass, type TableCheck, warn } from './tableCheck.js';
import { asBaseClient, describeAwsError, regionOf } from './tableClient.js';

const NAME = 'table exists';

export type DescribedTable =
  | { readonly check: TableCheck; readonly description: TableDescription }
  | { readonly check: TableCheck; readonly description?: undefined };

/** Describes the table: whether it exists, and whether it takes reads and writes now. */
export async function checkTableStatus(
  client: DynamoClient,
  table: string,
): Promise<DescribedTable> {
  let description: TableDescription | undefined;
  try {
    ({ Table: description } = await asBaseClient(client).send(
      new DescribeTableCommand({ TableName: table }),
    ));
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') {
      const region = await regionOf(client);
      const where = region === undefined ? '' : ` in region "${region}"`;
      return {
        check: fail(
          NAME,
          `Table "${table}" not found${where}: check the table name and the client's region and endpoint`,
        ),
      };
    }
    // Only an access denial is about permissions; missing credentials or region say so themselves.
    const hint =
      error instanceof Error && error.name === 'AccessDeniedException'
        ? ' (the check needs dynamodb:DescribeTable)'
        : '';
    return {
      check: fail(NAME, `DescribeTable on "${table}" failed${hint}: ${describeAwsError(error)}`),
    };
  }
  if (description === undefined) {
    return { check: fail(NAME, `DescribeTable on "${table}" returned no table`) };
  }
  const status = description.TableStatus;
  if (status === 'ACTIVE') {
    return { check: pass(NAME, `Table "${table}" is ACTIVE`), description };
  }
  // An updating table (new index, capacity change) still serves reads and writes.
  if (status === 'UPDATING') {
    return {
      check: warn(NAME, `Table "${table}" is UPDATING; it still serves requests`),
      description,
    };
  }
  return {
    check: fail(
      NAME,
      `Table "${table}" is ${status ?? 'in an unknown state'}, not ACTIVE: wait for it to become ACTIVE and check again`,
    ),
    description,
  };
}
