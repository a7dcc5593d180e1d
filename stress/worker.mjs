// One stress worker process: its own DynamoDBClient and ElectroDynamoAdapter, driven over IPC by
// stress/harness.mjs (config → ready → go → done). Every worker walks the same key sequence at
// the same time, so the duplicate callers of a key race across processes, not only within one.

import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { countedClient } from '../bench/lib/clients.mjs';
import { executeLikeCore } from '../test/support/coreReference.mjs';
import { seededRandom } from '../test/support/seededRandom.mjs';
import { loadBuiltPackage } from './builtPackage.mjs';
import { sumLeaseHealth } from './leaseHealth.mjs';
import { fencedPlan, handlerDurations, keyName } from './prng.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function send(message) {
  return new Promise((resolve, reject) =>
    process.send(message, (error) => (error ? reject(error) : resolve())),
  );
}

const cpuMs = ({ user, system }) => (user + system) / 1000;

function describeError(error) {
  const name = error?.name ?? 'Error';
  const code = error?.code ?? '';
  return `${name}/${code}: ${String(error?.message ?? error).slice(0, 200)}`;
}

// Lease renewals and losses this process saw, for the run's figures.
const lease = { renewals: 0, lost: 0 };

async function setUp(config) {
  const built = await loadBuiltPackage();
  const { ElectroDynamoAdapter, IDEMPOTENCY_CHANNELS } = built;
  subscribe(IDEMPOTENCY_CHANNELS.leaseRenewed, () => {
    lease.renewals += 1;
  });
  subscribe(IDEMPOTENCY_CHANNELS.leaseLost, () => {
    lease.lost += 1;
  });
  const { client, counter } = countedClient(config.endpoint);
  const adapter = new ElectroDynamoAdapter({
    client,
    table: config.table,
    prefix: 'idem',
    ...config.adapterOptions,
  });
  // The first request loads the SDK's lazy modules and opens a connection; doing it before
  // "go" keeps that one-off cost from skewing which process reaches the first keys first. A
  // lock wait on a free key is a plain read in every mode (a get could claim, leaving a lock).
  await adapter.waitForLock(`warmup-${config.workerIndex}`, 1_000, 10);
  if (config.fenced === undefined) return { client, adapter, counter };
  // The slowest answer per operation: a lost lease on a loaded machine shows up here first.
  const slowest = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const sentAt = performance.now();
      try {
        return await next(args);
      } finally {
        const ms = performance.now() - sentAt;
        const name = context.commandName ?? 'unknown';
        slowest[name] = Math.max(slowest[name] ?? 0, ms);
      }
    },
    { step: 'initialize', name: 'stressSlowestAnswer' },
  );
  // The fenced phase's stalled holders: the same table and mode, no lease renewal, so a
  // handler that sleeps past lockTtl loses its lease as a frozen process would.
  const stallAdapter = new ElectroDynamoAdapter({
    client,
    table: config.table,
    prefix: 'idem',
    ...config.adapterOptions,
    lockRenewal: false,
  });
  const doc = DynamoDBDocumentClient.from(client);
  return { client, adapter, counter, stallAdapter, doc, fence: built, slowest };
}

async function run(config, { client, adapter, counter }) {
  const requestsBefore = counter.requests;
  const cpuBefore = process.cpuUsage();
  const durations = handlerDurations(config.seed, config.keys, config.handlerMaxMs, config.slow);
  const jitter = seededRandom((config.seed ^ Math.imul(config.workerIndex + 1, 0x9e3779b1)) >>> 0);
  const outcomes = [];
  const duplicates = [];
  let handlerRuns = 0;
  let handlerMs = 0;

  async function recordExecution(key) {
    const execId = randomUUID();
    handlerRuns += 1;
    try {
      await client.send(
        new PutItemCommand({
          TableName: config.table,
          Item: {
            pk: { S: `exec#${key}` },
            sk: { S: 'exec' },
            execId: { S: execId },
            pid: { N: String(process.pid) },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error?.name !== 'ConditionalCheckFailedException') throw error;
      // The key was already executed once: this run is the duplicate the test exists to catch.
      duplicates.push(key);
    }
    return execId;
  }

  async function call(keyIndex, callerIndex, delayMs) {
    const key = keyName(config.seed, keyIndex);
    let lostClaim = false;
    let executed = false;
    // Same adapter instance underneath; the wrapper only notes whether this caller lost the claim.
    const tracked = {
      get: (k) => adapter.get(k),
      set: (k, record) => adapter.set(k, record),
      releaseLock: (k) => adapter.releaseLock(k),
      waitForLock: (k, timeoutMs, pollMs) => adapter.waitForLock(k, timeoutMs, pollMs),
      acquireLock: async (k, ttlMs) => {
        const acquired = await adapter.acquireLock(k, ttlMs);
        if (!acquired) lostClaim = true;
        return acquired;
      },
    };
    const handler = async () => {
      executed = true;
      const execId = await recordExecution(key);
      const started = performance.now();
      await sleep(durations[keyIndex]);
      handlerMs += performance.now() - started;
      return { key, execId, pid: process.pid };
    };
    if (delayMs > 0) await sleep(delayMs);
    let response = null;
    let failure = null;
    try {
      response = JSON.stringify(await executeLikeCore(tracked, key, handler, config.core));
    } catch (error) {
      failure = describeError(error);
    }
    const path = executed ? 'X' : lostClaim ? 'W' : 'R';
    outcomes.push([keyIndex, callerIndex, path, response, failure]);
  }

  let nextKey = 0;
  async function lane() {
    for (;;) {
      const keyIndex = nextKey++;
      if (keyIndex >= config.keys) return;
      await Promise.all(
        config.callerSlots.map((callerIndex) =>
          call(keyIndex, callerIndex, Math.floor(jitter() * (config.jitterMs + 1))),
        ),
      );
    }
  }

  await Promise.all(Array.from({ length: config.window }, lane));
  return {
    pid: process.pid,
    outcomes,
    duplicates,
    handlerRuns,
    handlerMs,
    renewals: lease.renewals,
    leasesLost: lease.lost,
    // What the lease watch saw: lease-bearing requests, those at risk, leases found lapsed.
    leaseHealth: sumLeaseHealth([adapter.leaseHealth()]),
    requests: counter.requests - requestsBefore,
    cpuMs: cpuMs(process.cpuUsage(cpuBefore)),
  };
}

/**
 * The fenced phase: every caller runs the core's sequence inside its own fence scope, and each
 * handler writes one order item (its own pk, outside the adapter's prefix, naming the key) in
 * one transaction with the fence. A key's planned stalled holder sleeps past its lease first.
 */
async function runFenced(config, resources) {
  const { client, adapter, counter, stallAdapter, doc, fence, slowest } = resources;
  const { runInFenceScope, currentFence, fenceErrorReason } = fence;
  const requestsBefore = counter.requests;
  const cpuBefore = process.cpuUsage();
  const durations = handlerDurations(config.seed, config.keys, config.handlerMaxMs);
  const plan = fencedPlan(config.seed, config.keys, config.callers, config.fenced);
  const jitter = seededRandom((config.seed ^ Math.imul(config.workerIndex + 1, 0x9e3779b1)) >>> 0);
  const outcomes = [];
  let handlerRuns = 0;
  let stalledRuns = 0;
  let handlerMs = 0;

  // A stall key's callers start after its stalled holder's claim, whichever process is ahead on
  // the key sequence: the holder notes its claim in the table (outside the adapter's prefix),
  // the others read until it is there, then wait their planned delay.
  const claimNote = (key) => ({ pk: { S: `stall#${key}` }, sk: { S: 'stall' } });
  async function noteStalledClaim(key) {
    await client.send(new PutItemCommand({ TableName: config.table, Item: claimNote(key) }));
  }
  async function awaitStalledClaim(key) {
    const deadline = Date.now() + config.fenced.stallLockTtl * 5;
    while (Date.now() < deadline) {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: config.table, Key: claimNote(key), ConsistentRead: true }),
      );
      if (Item !== undefined) return;
      await sleep(25);
    }
  }

  async function call(keyIndex, callerIndex, delayMs) {
    const key = keyName(config.seed, keyIndex);
    const stall = plan[keyIndex];
    const stalls = stall?.stalledCaller === callerIndex;
    const target = stalls ? stallAdapter : adapter;
    let lostClaim = false;
    let executed = false;
    let stalled = false;
    const tracked = {
      get: (k) => target.get(k),
      set: (k, record) => target.set(k, record),
      releaseLock: (k) => target.releaseLock(k),
      waitForLock: (k, timeoutMs, pollMs) => target.waitForLock(k, timeoutMs, pollMs),
      acquireLock: async (k, ttlMs) => {
        const acquired = await target.acquireLock(k, ttlMs);
        if (!acquired) lostClaim = true;
        else if (stalls) await noteStalledClaim(k);
        return acquired;
      },
    };
    const handler = async () => {
      executed = true;
      handlerRuns += 1;
      const started = performance.now();
      if (stalls) {
        stalled = true;
        stalledRuns += 1;
        await sleep(config.fenced.stallMs);
      } else {
        await sleep(durations[keyIndex]);
      }
      handlerMs += performance.now() - started;
      const current = currentFence();
      const orderId = randomUUID();
      const response = { key, orderId, pid: process.pid };
      await current.send(doc, {
        TransactItems: [
          current.item({ response: { response } }),
          {
            Put: {
              TableName: config.table,
              Item: {
                pk: `order#${orderId}`,
                sk: 'order',
                key,
                orderId,
                pid: process.pid,
                stalled,
              },
            },
          },
        ],
      });
      return response;
    };
    if (stall !== null && !stalls) await awaitStalledClaim(key);
    if (delayMs > 0) await sleep(delayMs);
    let response = null;
    let failure = null;
    let reason = null;
    try {
      // The stalled holder's short lease is the one it outlives; every other holder's is long.
      const core = stalls ? { ...config.core, lockTtl: config.fenced.stallLockTtl } : config.core;
      response = JSON.stringify(
        await runInFenceScope(() => executeLikeCore(tracked, key, handler, core)),
      );
    } catch (error) {
      failure = describeError(error);
      reason = fenceErrorReason(error) ?? null;
    }
    const path = executed ? 'X' : lostClaim ? 'W' : 'R';
    outcomes.push([keyIndex, callerIndex, path, response, failure, reason, stalled]);
  }

  let nextKey = 0;
  async function lane() {
    for (;;) {
      const keyIndex = nextKey++;
      if (keyIndex >= config.keys) return;
      const stall = plan[keyIndex];
      await Promise.all(
        config.callerSlots.map((callerIndex) =>
          call(
            keyIndex,
            callerIndex,
            stall === null
              ? Math.floor(jitter() * (config.jitterMs + 1))
              : stall.delays[callerIndex],
          ),
        ),
      );
    }
  }

  await Promise.all(Array.from({ length: config.window }, lane));
  return {
    pid: process.pid,
    outcomes,
    handlerRuns,
    stalledRuns,
    handlerMs,
    renewals: lease.renewals,
    leasesLost: lease.lost,
    leaseHealth: sumLeaseHealth([adapter.leaseHealth(), stallAdapter.leaseHealth()]),
    slowest,
    requests: counter.requests - requestsBefore,
    cpuMs: cpuMs(process.cpuUsage(cpuBefore)),
  };
}

let resources;
process.on('message', async (message) => {
  try {
    if (message.type === 'config') {
      resources = { config: message.config, ...(await setUp(message.config)) };
      await send({ type: 'ready' });
    } else if (message.type === 'go') {
      const report =
        resources.config.fenced === undefined
          ? await run(resources.config, resources)
          : await runFenced(resources.config, resources);
      await send({ type: 'done', report });
      resources.client.destroy();
      process.disconnect();
    }
  } catch (error) {
    await send({ type: 'fatal', error: describeError(error) }).catch(() => undefined);
    process.exit(1);
  }
});
// A parent that died or gave up must not leave this process behind.
process.on('disconnect', () => process.exit(0));
