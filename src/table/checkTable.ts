import { requireClient } from '../clientInput.js';
import { requireName, resolveTableFields, validateTableFields } from '../tableFields.js';
import type { CheckTableOptions } from './checkTableOptions.js';
import { checkKeySchema } from './keySchemaCheck.js';
import { checkRoundTrip } from './roundTripCheck.js';
import type { TableCheck, TableCheckReport } from './tableCheck.js';
import { checkTableStatus } from './tableStatusCheck.js';
import { checkTtl } from './ttlCheck.js';

const CALLER = 'checkTable';

function report(checks: TableCheck[]): TableCheckReport {
  return { ok: checks.every((check) => check.status !== 'fail'), checks };
}

/**
 * Checks that a table can hold the adapter's items with these options: it exists and is
 * ACTIVE, its key matches `pkField`/`skField`, TTL is on `ttlField` (a warning otherwise), and
 * a record survives a set / get / delete round trip under the prefix.
 *
 * Checks that cannot run after a failure are left out of the report, and the failing check's
 * message says so. Throws INVALID_CONFIG only for options no check could start from (no
 * client, no table name, a key or TTL field that is not a non-empty string); anything else
 * the adapter rejects fails the round trip check.
 *
 * Needs dynamodb:DescribeTable, dynamodb:DescribeTimeToLive, and the adapter's GetItem,
 * PutItem and DeleteItem.
 */
export async function checkTable(options: CheckTableOptions): Promise<TableCheckReport> {
  const client = requireClient(CALLER, options?.client);
  const table = requireName(CALLER, 'table', options.table);
  const fields = resolveTableFields(CALLER, options);
  // Names the adapter itself would refuse are a configuration error, not a table problem.
  validateTableFields(CALLER, fields);

  const described = await checkTableStatus(client, table);
  if (described.description === undefined) {
    const { check } = described;
    return report([{ ...check, message: `${check.message} (no other check run)` }]);
  }
  const checks = [
    described.check,
    checkKeySchema(described.description, fields),
    await checkTtl(client, table, fields.ttlField),
  ];
  const blocker = checks.find((check) => check.status === 'fail');
  if (blocker === undefined) {
    checks.push(await checkRoundTrip(options));
  } else {
    blocker.message += ' (round trip not attempted)';
  }
  return report(checks);
}
