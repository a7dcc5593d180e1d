// One stress worker process: its own DynamoDBClient and ElectroDynamoAdapter, driven over IPC by
// stress/harness.mjs (config → ready → go → done). Every worker walks the same key sequence at
// the same time, so the duplicate callers of a key race across processes, not only within one.

import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { countedClient } from '../bench/lib/clients.mjs';
import { executeLikeCore } from '../test/support/coreReference.mjs';
import { seededRandom } from '../test/support/seededRandom.mjs';
import { loadBuiltPackage } from './builtPackage.mjs';
import { sumLeaseHealth } from './leaseHealth.mjs';
import { handlerDurations, keyName } from './prng.mjs';

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
  const { ElectroDynamoAdapter, IDEMPOTENCY_CHANNELS } = await loadBuiltPackage();
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
  return { client, adapter, counter };
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

let resources;
process.on('message', async (message) => {
  try {
    if (message.type === 'config') {
      resources = { config: message.config, ...(await setUp(message.config)) };
      await send({ type: 'ready' });
    } else if (message.type === 'go') {
      const report = await run(resources.config, resources);
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
