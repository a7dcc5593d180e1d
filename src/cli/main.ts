import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import { DEFAULTS } from '../options.js';
import { checkTable } from '../table/checkTable.js';
import { createIdempotencyTable } from '../table/createTable.js';
import { checkTtl } from '../table/ttlCheck.js';
import { describeKey } from '../tableFields.js';
import { formatCheck, formatSummary } from './formatCheck.js';
import { type Connection, parseCliArgs } from './parseCliArgs.js';
import { USAGE } from './usage.js';

/** Where the CLI writes, one line per call; a test passes its own. */
export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function createClient(connection: Connection): DynamoDBClient {
  return new DynamoDBClient({
    ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
    ...(connection.region === undefined ? {} : { region: connection.region }),
  });
}

/**
 * The `electrodb-idempotency` command: `check` or `create-table`. Returns the exit status
 * (0 ok, 1 a check or request failed, 2 usage error) rather than exiting, so it can be tested.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const command = parseCliArgs(argv);
  if (command.kind === 'help') {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (command.kind === 'usage-error') {
    io.stderr(`electrodb-idempotency: ${command.message}`);
    io.stderr('');
    io.stderr(USAGE);
    return EXIT.usage;
  }

  let client: DynamoDBClient | undefined;
  try {
    client = createClient(command.connection);
    if (command.kind === 'check') {
      const { options } = command;
      const report = await checkTable({ client, ...options });
      for (const check of report.checks) io.stdout(formatCheck(check));
      io.stdout(formatSummary(report, options.table, options.prefix));
      return report.ok ? EXIT.ok : EXIT.failed;
    }

    const { options } = command;
    const description = await createIdempotencyTable(client, options);
    const keys = description.KeySchema?.map((key) => key.AttributeName ?? '?') ?? [];
    io.stdout(
      `Created table "${options.table}" (key ${describeKey(keys[0] ?? '?', keys[1] ?? null)}, ${description.TableStatus ?? 'status unknown'})`,
    );
    // What the endpoint now reports, which is not always what was asked (dynalite has no TTL).
    io.stdout(
      formatCheck(await checkTtl(client, options.table, options.ttlField ?? DEFAULTS.ttlField)),
    );
    return EXIT.ok;
  } catch (error) {
    io.stderr(`electrodb-idempotency: ${error instanceof Error ? error.message : String(error)}`);
    // Options the adapter refuses (a reserved field name, say) are a usage error.
    return (error as { code?: unknown }).code === IdempotencyErrorCode.INVALID_CONFIG
      ? EXIT.usage
      : EXIT.failed;
  } finally {
    client?.destroy();
  }
}
