// A lock holder in a process of its own that runs a key through the built package in the
// core's order (get → acquireLock → get → handler → set → releaseLock, inside one fence scope)
// with a handler that writes an order item into the table: through the fence (a transaction
// with `fence.item()`) or, with `fence: false`, as a plain PutItem. Every step is a JSON line
// on stdout, so the test can stop or kill it at a known point:
//   acquired → handler → [waits for "go" on stdin if `gate`] → committed | handlerFailed →
//   [waits for "go" forever if `holdAfterCommit`] → set | setRejected → released
// Errors are reported with their code and fence reason, never thrown: the exit code stays 0.
// Argument: JSON of the options destructured below.
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { loadBuiltPackage } from '../../stress/builtPackage.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const {
  endpoint,
  accessKeyId,
  table,
  key,
  lockTtl,
  adapterOptions,
  fence: useFence,
  storeResponse = false,
  gate = false,
  holdAfterCommit = false,
} = JSON.parse(process.argv[2]);
const {
  ElectroDynamoAdapter,
  IDEMPOTENCY_CHANNELS,
  currentFence,
  fenceErrorReason,
  runInFenceScope,
} = await loadBuiltPackage();

const say = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);
for (const name of ['leaseRenewed', 'leaseLost', 'holdCapReached']) {
  subscribe(IDEMPOTENCY_CHANNELS[name], ({ error: _error, ...message }) => say(name, message));
}
const describeError = (error) => ({
  code: error?.code,
  reason: fenceErrorReason(error),
  name: error?.name,
  message: String(error?.message ?? error),
});

let stdinLines;
/** The next line the test writes to stdin (the stdin handle keeps the process alive meanwhile). */
async function nextLine() {
  stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const { value } = await stdinLines.next();
  return value;
}

const client = new DynamoDBClient({
  endpoint,
  region: 'local',
  credentials: { accessKeyId, secretAccessKey: 'local' },
});
const doc = DynamoDBDocumentClient.from(client);
const adapter = new ElectroDynamoAdapter({ client, table, prefix: 'idem', ...adapterOptions });

/** The order the handler places: one item outside the adapter's prefix, naming the key. */
async function handler() {
  if (gate && (await nextLine()) !== 'go') throw new Error('expected "go" on stdin');
  const orderId = randomUUID();
  const item = { pk: `order#${key}#${orderId}`, sk: 'order', orderKey: key, orderId, by: 'holder' };
  const response = { orderId };
  if (useFence) {
    const fence = currentFence();
    const mark = storeResponse
      ? { response: { response, statusCode: 201, headers: { location: `/orders/${orderId}` } } }
      : undefined;
    await fence.send(doc, {
      TransactItems: [fence.item(mark), { Put: { TableName: table, Item: item } }],
    });
  } else {
    await doc.send(new PutCommand({ TableName: table, Item: item }));
  }
  say('committed', { orderId });
  // The test kills the process here: between the commit and the set.
  if (holdAfterCommit) await nextLine();
  return response;
}

await runInFenceScope(async () => {
  if ((await adapter.get(key)) !== null) throw new Error(`${key} already has a record`);
  const acquired = await adapter.acquireLock(key, lockTtl);
  say('acquired', { acquired });
  if (!acquired) return;
  if ((await adapter.get(key)) !== null) throw new Error(`${key} got a record meanwhile`);
  say('handler');
  let record;
  try {
    record = { response: await handler(), createdAt: Date.now(), ttl: 3_600_000 };
  } catch (error) {
    say('handlerFailed', describeError(error));
    // As the core does: the error is stored for the lock's ttl.
    record = { response: { failed: String(error?.message) }, createdAt: Date.now(), ttl: lockTtl };
  }
  try {
    await adapter.set(key, record);
    say('set');
  } catch (error) {
    say('setRejected', describeError(error));
  }
  await adapter.releaseLock(key);
  say('released');
});
client.destroy();
if (stdinLines !== undefined) process.stdin.destroy();
