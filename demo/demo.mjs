// npm run demo: the adapter inside a single-table design, on an embedded dynalite.
// Nothing leaves 127.0.0.1; the server stops when the demo ends.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { createHash } = await import('node:crypto');
const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, ScanCommand } = await import('@aws-sdk/lib-dynamodb');
const { default: dynalite } = await import('dynalite');
const { Entity } = await import('electrodb');
const { ElectroDynamoAdapter, createIdempotencyTable } = await import('../dist/index.js');
const { executeLikeCore } = await import('../test/support/coreReference.mjs');

const TABLE = 'app-table';
const PREFIX = 'idem';
const CALLERS = 20;

const server = dynalite({ createTableMs: 0 });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${server.address().port}`;
const client = new DynamoDBClient({
  endpoint,
  region: 'local',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

// Count every request the client sends, by command name.
let sent = [];
client.middlewareStack.add(
  (next, context) => (args) => {
    sent.push(context.commandName.replace(/Command$/, ''));
    return next(args);
  },
  { step: 'initialize', name: 'demoRequestCounter' },
);

try {
  // 1. An existing single-table design: one table, an app entity already in it.
  // (created here with the package's helper for local development; yours already exists)
  await createIdempotencyTable(client, { table: TABLE });
  const documentClient = DynamoDBDocumentClient.from(client);
  const orders = new Entity(
    {
      model: { entity: 'order', version: '1', service: 'shop' },
      attributes: {
        orderId: { type: 'string', required: true },
        customerId: { type: 'string', required: true },
        total: { type: 'number', required: true },
      },
      indexes: {
        primary: {
          pk: { field: 'pk', composite: ['customerId'] },
          sk: { field: 'sk', composite: ['orderId'] },
        },
      },
    },
    { client: documentClient, table: TABLE },
  );
  await orders.put({ orderId: 'ord-0001', customerId: 'cust-42', total: 18 }).go();

  // 2. The adapter, with a prefix, in the same table. Two instances stand for two servers.
  const instances = [1, 2].map(
    () => new ElectroDynamoAdapter({ client, table: TABLE, prefix: PREFIX }),
  );

  // 3. Concurrent duplicates of one request: same Idempotency-Key, same body.
  const cacheKey = createHash('sha256')
    .update('POST:/orders:checkout-7f3a:{"customerId":"cust-42","total":99}')
    .digest('hex');
  let executions = 0;
  const createOrder = async () => {
    executions += 1;
    await new Promise((resolve) => setTimeout(resolve, 100)); // the side effect takes a while
    const order = {
      orderId: `ord-${String(1 + executions).padStart(4, '0')}`,
      customerId: 'cust-42',
      total: 99,
    };
    await orders.put(order).go();
    return { status: 'created', ...order };
  };
  sent = [];
  const answers = await Promise.all(
    Array.from({ length: CALLERS }, (_, i) =>
      executeLikeCore(instances[i % 2], cacheKey, createOrder, {
        ttl: 3_600_000,
        lockTtl: 10_000,
        lockTimeout: 10_000,
        lockPollInterval: 25,
      }),
    ),
  );
  const distinct = new Set(answers.map((a) => JSON.stringify(a)));

  // 4. Requests per flow, each measured alone.
  const measure = async (key, handler) => {
    sent = [];
    await executeLikeCore(instances[0], key, handler);
    return [...sent];
  };
  const firstExecution = await measure('flow-demo', async () => ({ ok: true }));
  const replay = await measure('flow-demo', async () => ({ ok: 'not run' }));

  const { Items = [] } = await documentClient.send(new ScanCommand({ TableName: TABLE }));

  const line = (label, value) => console.log(`  ${label.padEnd(28)} ${value}`);
  console.log(
    `\nElectroDynamoAdapter demo: dynalite on ${endpoint}, table "${TABLE}", prefix "${PREFIX}"\n`,
  );
  console.log(
    `${CALLERS} concurrent duplicates of POST /orders (Idempotency-Key checkout-7f3a), 2 adapter instances`,
  );
  line('handler executions', executions);
  line('callers answered', answers.length);
  line('distinct answers', `${distinct.size}  ${[...distinct][0]}`);
  console.log('\nDynamoDB requests per flow (counted by SDK middleware)');
  line('first execution', `${firstExecution.length}  (${firstExecution.join(', ')})`);
  line('replay', `${replay.length}  (${replay.join(', ')})`);
  console.log('\nItems in the table: the app entity beside the idempotency items');
  const rows = Items.map((item) => ({
    pk: item.pk.length > 40 ? `${item.pk.slice(0, 37)}...` : item.pk,
    sk: item.sk,
    entity: item.__edb_e__,
    detail:
      item.__edb_e__ === 'order'
        ? `total=${item.total}`
        : item.__edb_e__ === 'idempotencyRecord'
          ? `response=${item.response.slice(0, 40)}${item.response.length > 40 ? '...' : ''}`
          : `owner=${item.owner}`,
  })).sort((a, b) => a.entity.localeCompare(b.entity) || a.pk.localeCompare(b.pk));
  const widths = ['pk', 'sk', 'entity'].map((k) =>
    Math.max(k.length, ...rows.map((r) => r[k].length)),
  );
  const format = (r) =>
    `  ${r.pk.padEnd(widths[0])}  ${r.sk.padEnd(widths[1])}  ${r.entity.padEnd(widths[2])}  ${r.detail}`;
  console.log(format({ pk: 'pk', sk: 'sk', entity: 'entity', detail: 'detail' }));
  for (const row of rows) console.log(format(row));
  console.log(
    executions === 1 && distinct.size === 1
      ? '\nResult: the handler ran once and every caller got the same answer.\n'
      : '\nResult: UNEXPECTED: duplicates were executed.\n',
  );
  if (executions !== 1 || distinct.size !== 1) process.exitCode = 1;
} finally {
  client.destroy();
  server.close();
}
