// Fenced writes: what the fence costs a handler that writes one order item. Two flows of the
// core's call sequence on one key each, alternating: (a) unfenced, the handler puts the order
// item with a plain PutItem; (b) fenced, the handler writes it in a TransactWriteItems with the
// fence's item (`fence.send(doc, { TransactItems: [fence.item(), { Put: order }] })`) inside
// `runInFenceScope`. Needs transactions, so DynamoDB Local only (dynalite has none).
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import * as builtPackage from '../../dist/index.js';
import { executeLikeCore } from '../../test/support/coreReference.mjs';
import { meterCapacity, perFlow } from './capacity.mjs';
import { CORE_OPTIONS, coreCacheKey, response } from './flows.mjs';
import { micros, summarize } from './stats.mjs';

export const FENCE_FLOWS = ['unfenced', 'fenced'];
export const FENCE_FLOW_TITLES = {
  unfenced: 'unfenced: handler PutItem',
  fenced: 'fenced: handler TransactWriteItems [fence.item(), Put order]',
};
const TABLE = 'app-table';

/** The order item: small, in the adapter's table, its pk outside the adapter's prefix. */
export const orderPut = (key) => ({
  TableName: TABLE,
  Item: { pk: `order#${key}`, sk: 'order', customerId: 'cust-42', total: 42.5, status: 'created' },
});

/** This process's CPU time (user + system, µs) since `start` (a `process.cpuUsage()`). */
const cpuSince = (start) => {
  const { user, system } = process.cpuUsage(start);
  return user + system;
};

/**
 * The two flows on one adapter and the document client its handler writes with. `onWrite` is
 * told how long each handler's write took (µs) and the CPU time this process spent in it: the
 * PutItem, or the fence's item, the transaction and its send. (The flows run one at a time, so
 * the process does nothing else meanwhile; the backend runs in a process of its own.)
 */
export function orderFlows(adapter, doc, onWrite = () => {}) {
  const { runInFenceScope, currentFence } = builtPackage;
  const run = (key, handler) => executeLikeCore(adapter, coreCacheKey(key), handler, CORE_OPTIONS);
  return {
    unfenced: (key) =>
      run(key, async () => {
        const t = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        await doc.send(new PutCommand(orderPut(key)));
        onWrite(micros(t), cpuSince(cpu));
        return response(key);
      }),
    fenced: (key) =>
      runInFenceScope(() =>
        run(key, async () => {
          const t = process.hrtime.bigint();
          const cpu = process.cpuUsage();
          const fence = currentFence();
          await fence.send(doc, { TransactItems: [fence.item(), { Put: orderPut(key) }] });
          onWrite(micros(t), cpuSince(cpu));
          return response(key);
        }),
      ),
  };
}

/**
 * The same two writes without the adapter or the fence, for reference: a PutItem of the order
 * item, and a TransactWriteItems of it with a stand-in of the fence's item (a Put shaped like
 * it, over an item already there, conditioned on its owner, as the fence's rewrites the lock
 * that acquireLock wrote), alternating. The stand-in item is written first, untimed, in both:
 * what is left is what the backend charges for the transaction.
 */
async function bareWrites(doc, freshKey, count) {
  const standIn = (key) => ({
    TableName: TABLE,
    Item: {
      pk: `stand-in#${key}`,
      sk: 'fence',
      cacheKey: key,
      owner: `owner-${key}`,
      validUntil: Date.now() + 10_000,
      expiresAt: Math.ceil(Date.now() / 1000) + 86_400,
      committedAt: Date.now(),
      markedUntil: Date.now() + 86_400_000,
      __edb_e__: 'idempotencyLock',
      __edb_v__: '1',
    },
  });
  const writes = {
    unfenced: (key) => doc.send(new PutCommand(orderPut(key))),
    fenced: (key) =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                ...standIn(key),
                ConditionExpression: '#owner = :owner0',
                ExpressionAttributeNames: { '#owner': 'owner' },
                ExpressionAttributeValues: { ':owner0': `owner-${key}` },
              },
            },
            { Put: orderPut(key) },
          ],
        }),
      ),
  };
  const samples = { unfenced: [], fenced: [] };
  for (let i = 0; i < count; i++) {
    for (const name of i % 2 === 0 ? FENCE_FLOWS : [...FENCE_FLOWS].reverse()) {
      const key = `bare-${freshKey()}`;
      await doc.send(new PutCommand(standIn(key)));
      const t = process.hrtime.bigint();
      await writes[name](key);
      samples[name].push(micros(t));
    }
  }
  return new Map(FENCE_FLOWS.map((name) => [name, summarize(samples[name])]));
}

/** Why the comparison cannot run on this backend / package, or undefined when it can. */
export function fencedWritesUnavailable(backendName) {
  if (backendName !== 'dynamodb-local') {
    return `${backendName} has no transactions (TransactWriteItems), which the fence needs; \`npm run bench -- --backend dynamodb-local\` runs it`;
  }
  if (typeof builtPackage.runInFenceScope !== 'function') {
    return 'the built package (dist/) has no fence API; run `npm run build`';
  }
  return undefined;
}

/**
 * Latency, requests and capacity units per flow. `counted()` gives a fresh counted client on the
 * backend (its requests and retries counted, destroyed by the caller); each flow runs on an
 * adapter and a client of its own, so its counts are its own.
 */
export async function measureFencedWrites({ counted, freshKey, flows, warmup, capacityFlows }) {
  const make = (client, onWrite) => {
    const doc = DynamoDBDocumentClient.from(client);
    const adapter = new builtPackage.ElectroDynamoAdapter({ client, table: TABLE, prefix: 'idem' });
    return orderFlows(adapter, doc, onWrite);
  };
  // The handler's write times, kept only while `recording` (the measured iterations).
  const writeSamples = new Map(FENCE_FLOWS.map((name) => [name, []]));
  const writeCpu = new Map(FENCE_FLOWS.map((name) => [name, []]));
  let recording = false;
  const contenders = FENCE_FLOWS.map((name) => {
    const c = counted();
    const onWrite = (us, cpu) => {
      if (!recording) return;
      writeSamples.get(name).push(us);
      writeCpu.get(name).push(cpu);
    };
    return { name, ...c, run: make(c.client, onWrite)[name] };
  });
  const check = counted();
  const checkDoc = DynamoDBDocumentClient.from(check.client);
  /** Every flow must have answered the handler's response and written its order item. */
  async function verified(contender, key) {
    const answer = await contender.run(key);
    if (answer?.orderId !== key) {
      throw new Error(`fenced writes: ${contender.name} flow answered ${JSON.stringify(answer)}`);
    }
    return answer;
  }

  // Warm-up, alternating: the SDK's transaction code, ElectroDB, the JVM.
  for (let i = 0; i < warmup; i++) {
    for (const c of i % 2 === 0 ? contenders : [...contenders].reverse()) {
      await verified(c, freshKey());
    }
  }

  // Latency per first execution, alternating which flow goes first each iteration.
  const samples = new Map(FENCE_FLOWS.map((name) => [name, []]));
  const flowCpu = new Map(FENCE_FLOWS.map((name) => [name, 0]));
  for (const c of contenders) c.counter.requests = 0;
  const lastKeys = new Map();
  recording = true;
  for (let i = 0; i < flows; i++) {
    for (const c of i % 2 === 0 ? contenders : [...contenders].reverse()) {
      const key = freshKey();
      const t = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      await verified(c, key);
      flowCpu.set(c.name, flowCpu.get(c.name) + cpuSince(cpu));
      samples.get(c.name).push(micros(t));
      lastKeys.set(c.name, key);
    }
  }
  recording = false;
  const requests = new Map(contenders.map((c) => [c.name, c.counter.requests / flows]));
  // The order items are there (read on a client of its own, not counted in the flows).
  for (const [name, key] of lastKeys) {
    const { Item } = await checkDoc.send(
      new GetCommand({ TableName: TABLE, Key: { pk: `order#${key}`, sk: 'order' } }),
    );
    if (Item === undefined) throw new Error(`fenced writes: ${name} flow wrote no order item`);
  }

  // Capacity units per flow, on metered clients of their own.
  const capacity = new Map();
  for (const name of FENCE_FLOWS) {
    const c = counted();
    const meter = meterCapacity(c.client);
    const run = make(c.client)[name];
    await run(freshKey()); // unmetered: lazy modules
    meter.reset();
    for (let i = 0; i < capacityFlows; i++) await run(freshKey());
    capacity.set(name, perFlow(meter.snapshot(), capacityFlows));
  }

  const bareCount = Math.min(flows, 1_000);
  const bare = await bareWrites(checkDoc, freshKey, bareCount);

  return {
    flows,
    warmup,
    capacityFlows,
    latency: new Map([...samples].map(([name, s]) => [name, summarize(s)])),
    writes: new Map([...writeSamples].map(([name, s]) => [name, summarize(s)])),
    /** Mean CPU time (µs) of this process per flow, and per handler's write. */
    cpu: new Map(
      FENCE_FLOWS.map((name) => [
        name,
        {
          flow: flowCpu.get(name) / flows,
          write: writeCpu.get(name).reduce((sum, us) => sum + us, 0) / flows,
        },
      ]),
    ),
    bare,
    bareCount,
    requests,
    capacity,
  };
}
