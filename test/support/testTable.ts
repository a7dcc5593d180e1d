import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import type { ElectroDynamoAdapterOptions } from '../../src/options.js';
import { createUserEntity } from './appEntity.js';
import { createClient, createTable, type LocalDynamo, startBackend } from './backend.js';
import { recordCommands } from './requestCounter.js';

let tableCounter = 0;

/**
 * dynalite on 127.0.0.1 with a fresh pk/sk table that already holds an ordinary app entity,
 * and a client whose every command is recorded.
 */
export async function startTestTable() {
  const dynamo: LocalDynamo = await startBackend();
  const client = createClient(dynamo.endpoint);
  const table = `app-table-${++tableCounter}`;
  await createTable(client, table);
  const documentClient = DynamoDBDocumentClient.from(client);
  const users = createUserEntity(documentClient, table);
  const commands = recordCommands(client);

  return {
    endpoint: dynamo.endpoint,
    client,
    table,
    users,
    commands,
    adapter(options: Partial<ElectroDynamoAdapterOptions> = {}): ElectroDynamoAdapter {
      return new ElectroDynamoAdapter({ client, table, prefix: 'idem', ...options });
    },
    /** An adapter on a client of its own, so faults injected there stay out of other tests. */
    isolatedAdapter(options: Partial<ElectroDynamoAdapterOptions> = {}) {
      const ownClient = createClient(dynamo.endpoint);
      const adapter = new ElectroDynamoAdapter({
        client: ownClient,
        table,
        prefix: 'idem',
        ...options,
      });
      return { client: ownClient, adapter };
    },
    async scan(): Promise<Record<string, unknown>[]> {
      const { Items = [] } = await documentClient.send(
        new ScanCommand({ TableName: table, ConsistentRead: true }),
      );
      return Items;
    },
    async close(): Promise<void> {
      client.destroy();
      await dynamo.close();
    },
  };
}

export type TestTable = Awaited<ReturnType<typeof startTestTable>>;
