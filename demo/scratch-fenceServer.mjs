// One "server" of the fence demo, in a process of its own so the demo can freeze it (SIGSTOP)
// and resume it (SIGCONT) like a stalled VM or a long GC pause. It serves one request through
// the core's storage sequence; its handler writes one order item, fenced or not. Every step is a
// JSON line on stdout. Argument: JSON of the options read below.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, PutCommand } = await import('@aws-sdk/lib-dynamodb');
const { ElectroDynamoAdapter, currentFence, fenceErrorReason, runInFenceScope } = await import(
  '../dist/index.js'
);
const { executeLikeCore } = await import('./coreSequence.mjs');

const { endpoint, table, prefix, key, checkoutId, server, fence, lockTtl, workMs } = JSON.parse(
  process.argv[2],
);
const say = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);

const client = new DynamoDBClient({
  endpoint,
  region: 'local',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const doc = DynamoDBDocumentClient.from(client);
const real = new ElectroDynamoAdapter({ client, table, prefix });
const { subscribe } = await import('node:diagnostics_channel');
const { IDEMPOTENCY_CHANNELS } = await import('../dist/index.js');
for (const [n, id] of Object.entries(IDEMPOTENCY_CHANNELS))
  subscribe(id, (m) => say('channel', { n, m }));
const adapter = new Proxy(real, {
  get(t, p) {
    const v = t[p];
    if (typeof v !== 'function') return v;
    return async (...args) => {
      say('call', { p });
      try {
        const r = await v.apply(t, args);
        say('ret', { p, r: p === 'get' ? (r ? 'record' : null) : r });
        return r;
      } catch (e) {
        say('throw', { p, code: e.code, reason: e.context?.reason, msg: e.message });
        throw e;
      }
    };
  },
});

const orderId = `ord-${server}`;
const order = {
  TableName: table,
  Item: {
    pk: `checkout#${checkoutId}`,
    sk: `order#${orderId}`,
    orderId,
    placedBy: `server ${server} (pid ${process.pid})`,
    total: 99,
  },
};

let stage = 'before the handler';
async function createOrder() {
  stage = 'in the handler';
  say('handler-started');
  await new Promise((resolve) => setTimeout(resolve, workMs)); // charging the card, say
  stage = 'writing the order';
  if (fence) {
    const f = currentFence();
    await f.send(doc, { TransactItems: [f.item(), { Put: order }] });
  } else {
    await doc.send(new PutCommand(order));
  }
  say('order-written', { orderId });
  stage = 'storing the response (set)';
  return { status: 'created', orderId };
}

const serve = () =>
  executeLikeCore(adapter, key, createOrder, {
    ttl: 3_600_000,
    lockTtl,
    lockTimeout: 10_000,
    lockPollInterval: 50,
  });
try {
  const response = await (fence ? runInFenceScope(serve) : serve());
  say('answered', { response });
} catch (error) {
  say('failed', {
    stage,
    error: {
      name: error?.name,
      code: error?.code,
      statusCode: error?.getStatusCode?.(),
      reason: fenceErrorReason(error),
      message: error?.message,
    },
  });
} finally {
  client.destroy();
}
