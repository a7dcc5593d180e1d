import { DescribeTimeToLiveCommand, type TimeToLiveDescription } from '@aws-sdk/client-dynamodb';
import type { DynamoClient } from '../clientInput.js';
import { pass, type TableCheck, warn } from './tableCheck.js';
import { asBaseClient, describeAwsError } from './tableClient.js';

const NAME = 'ttl';

/**
 * TTL only saves storage: the adapter treats expired items as absent whatever DynamoDB does,
 * so every TTL problem is a warning. dynalite always reports TTL as disabled.
 */
export function evaluateTtl(
  description: TimeToLiveDescription | undefined,
  table: string,
  ttlField: string,
): TableCheck {
  const status = description?.TimeToLiveStatus;
  const attribute = description?.AttributeName;
  const on = status === 'ENABLED' || status === 'ENABLING';
  if (on && attribute === ttlField) {
    return pass(
      NAME,
      `TTL is ${status === 'ENABLED' ? 'enabled' : 'being enabled'} on "${ttlField}"`,
    );
  }
  if (on && attribute !== undefined) {
    // A table has one TTL attribute, and the user's own items may rely on it: reuse it.
    return warn(
      NAME,
      `TTL is on "${attribute}", not "${ttlField}", so expired idempotency items are never deleted: pass { ttlField: ${JSON.stringify(attribute)} } to share the table's TTL attribute`,
    );
  }
  const state = status === 'DISABLING' ? 'being disabled' : 'disabled';
  return warn(
    NAME,
    `TTL is ${state} on table "${table}", so expired idempotency items are never deleted (they still read as absent); enable it: aws dynamodb update-time-to-live --table-name ${table} --time-to-live-specification "AttributeName=${ttlField},Enabled=true"`,
  );
}

/** Reads the table's TTL setting; a failed read is a warning too, since TTL is optional. */
export async function checkTtl(
  client: DynamoClient,
  table: string,
  ttlField: string,
): Promise<TableCheck> {
  try {
    const { TimeToLiveDescription } = await asBaseClient(client).send(
      new DescribeTimeToLiveCommand({ TableName: table }),
    );
    return evaluateTtl(TimeToLiveDescription, table, ttlField);
  } catch (error) {
    return warn(
      NAME,
      `Could not read the TTL setting of table "${table}" (needs dynamodb:DescribeTimeToLive): ${describeAwsError(error)}`,
    );
  }
}
