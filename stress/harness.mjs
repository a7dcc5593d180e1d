// Multi-process contention run: one in-memory dynalite on 127.0.0.1 in this process (or the
// DynamoDB at `options.endpoint`, such as DynamoDB Local), several worker processes
// (stress/worker.mjs), each with its own client and adapter, calling the same
// keys at the same time through the core's call sequence. Shared by `npm run stress` and the
// light variant in the test suite. runFencedStress is the fenced phase: handlers write order
// items through the fence (runInFenceScope / currentFence) while planned holders stall.

import { fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { loadBuiltPackage } from './builtPackage.mjs';
import { sumLeaseHealth } from './leaseHealth.mjs';
import { fencedPlan, keyName } from './prng.mjs';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));

export const STRESS_DEFAULTS = Object.freeze({
  processes: 4,
  keys: 2_000,
  callers: 8,
  deadlineMs: 60_000,
  // Keys each worker has in flight at once: enough to keep dynalite busy, few enough that the
  // workers stay close together on the shared key sequence.
  window: 8,
  handlerMaxMs: 30,
  jitterMs: 3,
  lockTtl: 15_000,
  lockTimeout: 15_000,
  lockPollInterval: 20,
  // No handler slower than the lock ttl unless asked for (see SLOW_PHASE).
  slow: { share: 0, minMs: 0, maxMs: 0 },
  // Extra ElectroDynamoAdapter options of every worker, such as { claimOnMiss: true }.
  adapterOptions: {},
});

/**
 * Overrides for the phase whose handlers outlive their lock ttl: a fifth of the keys run for 2
 * to 3 lock lifetimes, so every one of them needs its lease renewed, while the other callers
 * wait (lockTimeout covers the slowest handler) and then replay.
 */
export const SLOW_PHASE = Object.freeze({
  keys: 400,
  // Long enough that a renewal delayed by a busy shared machine still lands within the lease.
  lockTtl: 1_000,
  lockTimeout: 15_000,
  slow: { share: 0.2, minMs: 2_000, maxMs: 3_000 },
});

/**
 * Overrides for the fenced phase (DynamoDB Local, or any DynamoDB with transactions): each
 * handler writes one order item in a transaction with the fence of its lock, and the holder of
 * a tenth of the keys stalls past its lease before that write, renewal off, while later callers
 * take the lapsed key over. Every other holder has a lease well beyond its handler, renewal on:
 * only the planned stalls should lose one, even where a loaded machine answers in seconds.
 */
export const FENCED_PHASE = Object.freeze({
  keys: 200,
  // Renewed every third: a loaded machine whose answers take seconds still renews in time.
  lockTtl: 10_000,
  lockTimeout: 15_000,
  // The stalls' waiters poll for a second or more; DynamoDB Local serves every poll.
  lockPollInterval: 50,
  fenced: Object.freeze({
    stallShare: 0.1,
    // The stalled holder's lease (its core lockTtl), and its stall: 2.5 leases, so the late
    // callers below find the lease lapsed with a second of stall still to go.
    stallLockTtl: 1_000,
    stallMs: 2_500,
    // Start delays after the stalled holder's claim: early callers find it holding and wait
    // (to the lapse, then CONFLICT with no record, or on to the taker's record); late ones
    // come after the lapse.
    earlyMs: Object.freeze([200, 500]),
    lateMs: Object.freeze([1_400, 1_900]),
  }),
});

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Awaited later; a worker that fails early must not count as an unhandled rejection meanwhile.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function requirePositiveInteger(name, value) {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`stress option "${name}" must be an integer >= 1 (got ${value})`);
  }
  return value;
}

function resolveOptions(options) {
  const resolved = { ...STRESS_DEFAULTS, ...options };
  for (const name of ['processes', 'keys', 'callers', 'deadlineMs', 'window', 'lockPollInterval']) {
    requirePositiveInteger(name, resolved[name]);
  }
  resolved.seed = options.seed ?? randomInt(2 ** 31);
  if (!Number.isInteger(resolved.seed) || resolved.seed < 0) {
    throw new Error(`stress option "seed" must be a non-negative integer (got ${resolved.seed})`);
  }
  return resolved;
}

function startWorker(index) {
  const child = fork(WORKER, [], {
    // The parent may run under a test runner whose loader flags mean nothing to a plain worker.
    execArgv: [],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = deferred();
  const done = deferred();
  const exited = new Promise((resolve) => {
    child.once('exit', resolve);
    // A process that never started emits no 'exit'.
    child.once('error', () => child.pid === undefined && resolve());
  });
  const fail = (error) => {
    ready.reject(error);
    done.reject(error);
  };
  child.on('message', (message) => {
    if (message.type === 'ready') ready.resolve();
    else if (message.type === 'done') done.resolve(message.report);
    else if (message.type === 'fatal') fail(new Error(`stress worker ${index}: ${message.error}`));
  });
  child.on('error', (error) => fail(new Error(`stress worker ${index}: ${error.message}`)));
  child.on('exit', (code, signal) =>
    fail(new Error(`stress worker ${index} exited (${signal ?? code}) before reporting`)),
  );
  return { index, child, ready: ready.promise, done: done.promise, exited };
}

async function scanTable(client, table) {
  const executions = new Map();
  let records = 0;
  let ExclusiveStartKey;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        ConsistentRead: true,
        ProjectionExpression: 'pk, execId',
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = item.pk?.S ?? '';
      if (pk.startsWith('exec#')) executions.set(pk.slice('exec#'.length), item.execId?.S);
      else if (pk.startsWith('idem#')) records += 1;
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { executions, records };
}

function tally(config, reports, table) {
  const byKey = new Map();
  let waits = 0;
  let crossProcessWaits = 0;
  let replays = 0;
  let errors = 0;
  let conflicts = 0;
  const errorSamples = [];
  for (const report of reports) {
    for (const [keyIndex, , path, response, failure] of report.outcomes) {
      const key = keyName(config.seed, keyIndex);
      const entry = byKey.get(key) ?? { calls: 0, failed: 0, responses: new Set(), waited: 0 };
      byKey.set(key, entry);
      entry.calls += 1;
      if (path === 'W') {
        waits += 1;
        entry.waited += 1;
      } else if (path === 'R') {
        replays += 1;
      }
      if (failure !== null) {
        errors += 1;
        entry.failed += 1;
        if (failure.includes('/CONFLICT')) conflicts += 1;
        if (errorSamples.length < 5) errorSamples.push(`${key}: ${failure}`);
        continue;
      }
      entry.responses.add(response);
      const { pid } = JSON.parse(response);
      if (path === 'W' && pid !== report.pid) crossProcessWaits += 1;
    }
  }

  let mismatches = 0;
  let contendedKeys = 0;
  const mismatchSamples = [];
  for (let keyIndex = 0; keyIndex < config.keys; keyIndex += 1) {
    const key = keyName(config.seed, keyIndex);
    const entry = byKey.get(key);
    if (entry?.waited) contendedKeys += 1;
    const [only] = entry?.responses ?? [];
    const agreed =
      entry !== undefined &&
      entry.calls === config.callers &&
      entry.failed === 0 &&
      entry.responses.size === 1 &&
      // The answer every caller got must be the one execution the table recorded.
      JSON.parse(only).execId === table.executions.get(key);
    if (!agreed) {
      mismatches += 1;
      if (mismatchSamples.length < 5) {
        mismatchSamples.push(
          `${key}: ${entry?.calls ?? 0} calls, ${entry?.failed ?? 0} failed, ` +
            `${entry?.responses.size ?? 0} distinct responses`,
        );
      }
    }
  }

  return {
    calls: reports.reduce((sum, report) => sum + report.outcomes.length, 0),
    handlerRuns: reports.reduce((sum, report) => sum + report.handlerRuns, 0),
    handlerSeconds: reports.reduce((sum, report) => sum + report.handlerMs, 0) / 1000,
    renewals: reports.reduce((sum, report) => sum + report.renewals, 0),
    leasesLost: reports.reduce((sum, report) => sum + report.leasesLost, 0),
    leaseHealth: sumLeaseHealth(reports.map((report) => report.leaseHealth)),
    requests: reports.reduce((sum, report) => sum + report.requests, 0),
    executions: table.executions.size,
    records: table.records,
    duplicates: reports.reduce((sum, report) => sum + report.duplicates.length, 0),
    mismatches,
    errors,
    conflicts,
    waits,
    crossProcessWaits,
    contendedKeys,
    replays,
    samples: [...errorSamples, ...mismatchSamples],
  };
}

/** Every invariant the run must hold; an empty list means it passed. */
export function violations(result) {
  const failed = [];
  if (result.executions !== result.keys) {
    failed.push(`executions ${result.executions} != keys ${result.keys}`);
  }
  if (result.handlerRuns !== result.keys) {
    failed.push(`handler runs ${result.handlerRuns} != keys ${result.keys}`);
  }
  if (result.records !== result.keys) {
    failed.push(`records ${result.records} != keys ${result.keys}`);
  }
  if (result.calls !== result.keys * result.callers) {
    failed.push(`calls ${result.calls} != keys x callers ${result.keys * result.callers}`);
  }
  if (result.duplicates !== 0) failed.push(`${result.duplicates} duplicate executions`);
  if (result.mismatches !== 0) failed.push(`${result.mismatches} mismatched keys`);
  if (result.errors !== 0) failed.push(`${result.errors} failed callers`);
  // A live holder never loses its lease in these runs: a loss would be a renewal gone wrong.
  if (result.leasesLost !== 0) failed.push(`${result.leasesLost} leases lost`);
  if (result.processes > 1 && result.crossProcessWaits === 0) {
    failed.push('no caller waited on another process: the run did not contend');
  }
  return failed;
}

/**
 * Runs the stress scenario and returns its counts. Rejects (after killing every worker and
 * closing the server) when a worker fails or the whole run outlives `deadlineMs`.
 */
export async function runStress(options = {}) {
  const config = resolveOptions(options);
  return runWorkers(config, {}, async ({ client, table, reports }) =>
    tally(config, reports, await scanTable(client, table)),
  );
}

/**
 * Starts the server (unless `config.endpoint` names one), a table of the run's own and the
 * workers, sends them `workerConfig` on top of the common config, lets them go, and returns
 * the common figures with `summarize({ client, table, endpoint, reports, built })`'s (`built`:
 * the package module the run loaded).
 */
async function runWorkers(config, workerConfig, summarize) {
  const built = await loadBuiltPackage();
  const { createIdempotencyTable } = built;

  const started = performance.now();
  // A server given by endpoint may be shared with other runs: a table of this run's own.
  const TABLE = `stress-table-${config.seed}-${randomInt(1e9)}`;
  const server =
    config.endpoint === undefined
      ? dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
      : undefined;
  const workers = [];
  let client;
  let timer;

  const body = async () => {
    let endpoint = config.endpoint;
    if (server !== undefined) {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      endpoint = `http://127.0.0.1:${server.address().port}`;
    }
    client = new DynamoDBClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await createIdempotencyTable(client, { table: TABLE });

    for (let index = 0; index < config.processes; index += 1) workers.push(startWorker(index));
    for (const worker of workers) {
      worker.child.send({
        type: 'config',
        config: {
          endpoint,
          table: TABLE,
          workerIndex: worker.index,
          seed: config.seed,
          keys: config.keys,
          callers: config.callers,
          // Caller c of every key runs in worker c mod processes.
          callerSlots: Array.from({ length: config.callers }, (_, c) => c).filter(
            (c) => c % config.processes === worker.index,
          ),
          window: config.window,
          handlerMaxMs: config.handlerMaxMs,
          slow: config.slow,
          jitterMs: config.jitterMs,
          adapterOptions: config.adapterOptions,
          core: {
            lockTtl: config.lockTtl,
            lockTimeout: config.lockTimeout,
            lockPollInterval: config.lockPollInterval,
          },
          ...workerConfig,
        },
      });
    }
    await Promise.all(workers.map((worker) => worker.ready));

    const go = performance.now();
    const serverCpuBefore = process.cpuUsage();
    for (const worker of workers) worker.child.send({ type: 'go' });
    const reports = await Promise.all(workers.map((worker) => worker.done));
    const runSeconds = (performance.now() - go) / 1000;
    const serverCpu = process.cpuUsage(serverCpuBefore);

    const figures = await summarize({ client, table: TABLE, endpoint, reports, built });
    return {
      seed: config.seed,
      processes: config.processes,
      keys: config.keys,
      callers: config.callers,
      ...figures,
      // This process serves dynalite; its CPU during the run is (nearly all) the server's. A
      // server elsewhere is not measured here.
      serverCpuSeconds:
        server === undefined ? undefined : (serverCpu.user + serverCpu.system) / 1e6,
      workerCpuSeconds: reports.reduce((sum, report) => sum + report.cpuMs, 0) / 1000,
      runSeconds,
      elapsedSeconds: (performance.now() - started) / 1000,
    };
  };

  try {
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`stress run exceeded its ${config.deadlineMs} ms deadline`)),
        config.deadlineMs,
      );
    });
    return await Promise.race([body(), deadline]);
  } catch (error) {
    // The seed is what makes a failed run repeatable; it must survive into the report.
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message} (seed ${config.seed})`, { cause: error });
  } finally {
    clearTimeout(timer);
    for (const { child } of workers) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(workers.map((worker) => worker.exited));
    client?.destroy();
    if (server !== undefined) {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    }
  }
}

async function scanFenced(client, table) {
  const orders = new Map();
  let orderItems = 0;
  let records = 0;
  let ExclusiveStartKey;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        ConsistentRead: true,
        ProjectionExpression: 'pk, #key, orderId, stalled',
        ExpressionAttributeNames: { '#key': 'key' },
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = item.pk?.S ?? '';
      if (pk.startsWith('order#')) {
        orderItems += 1;
        const key = item.key?.S ?? '';
        const list = orders.get(key) ?? [];
        list.push({ orderId: item.orderId?.S, stalled: item.stalled?.BOOL === true });
        orders.set(key, list);
      } else if (pk.startsWith('idem#')) {
        records += 1;
      }
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { orders, orderItems, records };
}

/** The record each key's callers must have been answered from, read the way the core reads. */
async function readRecords(adapter, keys) {
  const records = new Map();
  const queue = [...keys];
  const reader = async () => {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      records.set(key, await adapter.get(key));
    }
  };
  await Promise.all(Array.from({ length: 8 }, reader));
  return records;
}

async function tallyFenced(config, { reports, client, table, built }) {
  const plan = fencedPlan(config.seed, config.keys, config.callers, config.fenced);
  const byKey = new Map();
  for (const report of reports) {
    for (const [
      keyIndex,
      callerIndex,
      path,
      response,
      failure,
      reason,
      stalled,
    ] of report.outcomes) {
      const entry = byKey.get(keyIndex) ?? { calls: 0, answers: [], failures: [] };
      byKey.set(keyIndex, entry);
      entry.calls += 1;
      if (failure === null) entry.answers.push(JSON.parse(response));
      else entry.failures.push({ callerIndex, path, failure, reason, stalled });
    }
  }

  const { orders, orderItems, records } = await scanFenced(client, table);
  const completed = [...byKey].filter(([, entry]) => entry.answers.length > 0);
  const { ElectroDynamoAdapter } = built;
  // A plain reader (never claim-on-miss: its get must not write).
  const reader = new ElectroDynamoAdapter({ client, table, prefix: 'idem' });
  const stored = await readRecords(
    reader,
    completed.map(([keyIndex]) => keyName(config.seed, keyIndex)),
  );

  const figures = {
    stallKeys: plan.filter((stall) => stall !== null).length,
    calls: 0,
    keysCompleted: completed.length,
    orderItems,
    // Order items a stalled holder committed: no caller took its key over before it woke.
    stalledOrders: [...orders.values()].flat().filter((order) => order.stalled).length,
    records,
    duplicates: 0,
    completedWithoutOrder: 0,
    ordersWithoutAnswer: 0,
    disagreements: 0,
    lost: 0,
    failed: 0,
    plainKeyFailures: 0,
    plainKeysIncomplete: 0,
    leaseLostStalled: 0,
    leaseLostOther: 0,
    conflicts: 0,
    otherErrors: 0,
    samples: [],
  };
  // Stall keys' waiters fail by design: their samples come after every other kind.
  const expected = [];
  const sample = (text) => figures.samples.length < 8 && figures.samples.push(text);

  for (let keyIndex = 0; keyIndex < config.keys; keyIndex += 1) {
    const key = keyName(config.seed, keyIndex);
    const entry = byKey.get(keyIndex) ?? { calls: 0, answers: [], failures: [] };
    const keyOrders = orders.get(key) ?? [];
    figures.calls += entry.calls;
    figures.failed += entry.failures.length;
    if (keyOrders.length > 1) {
      figures.duplicates += keyOrders.length - 1;
      sample(`${key}: ${keyOrders.length} order items`);
    }
    if (plan[keyIndex] === null) {
      figures.plainKeyFailures += entry.failures.length;
      if (entry.answers.length === 0) figures.plainKeysIncomplete += 1;
    }
    for (const { failure, reason, stalled, callerIndex } of entry.failures) {
      if (reason === 'lease-lost') {
        if (stalled) figures.leaseLostStalled += 1;
        else figures.leaseLostOther += 1;
      } else if (failure.includes('/CONFLICT')) {
        figures.conflicts += 1;
      } else {
        figures.otherErrors += 1;
      }
      const text = `${key} caller ${callerIndex}${stalled ? ' (stalled)' : ''}: ${failure}`;
      if (plan[keyIndex] === null || reason === 'lease-lost' || !failure.includes('/CONFLICT')) {
        if (!(reason === 'lease-lost' && stalled)) sample(text);
      } else if (expected.length < 4) {
        expected.push(text);
      }
    }
    if (entry.answers.length === 0) {
      if (keyOrders.length > 0) {
        figures.ordersWithoutAnswer += keyOrders.length;
        sample(`${key}: ${keyOrders.length} order item(s), no caller answered`);
      }
      continue;
    }
    if (keyOrders.length === 0) {
      figures.completedWithoutOrder += 1;
      sample(`${key}: answered, no order item`);
    }
    const orderIds = new Set(entry.answers.map((answer) => answer.orderId));
    if (orderIds.size > 1) {
      figures.disagreements += 1;
      sample(`${key}: callers got ${orderIds.size} different answers`);
    }
    const record = stored.get(key);
    for (const answer of entry.answers) {
      // Acknowledged means kept: the key's one order item and its record say what this caller
      // was told.
      const kept =
        keyOrders.length === 1 &&
        keyOrders[0].orderId === answer.orderId &&
        record?.response?.orderId === answer.orderId;
      if (!kept) {
        figures.lost += 1;
        sample(
          `${key}: answer ${answer.orderId} not kept (orders ${keyOrders.map((o) => o.orderId).join(',') || 'none'}, ` +
            `record ${record?.response?.orderId ?? 'none'})`,
        );
      }
    }
  }

  for (const text of expected) sample(text);
  return {
    ...figures,
    handlerRuns: reports.reduce((sum, report) => sum + report.handlerRuns, 0),
    stalledRuns: reports.reduce((sum, report) => sum + report.stalledRuns, 0),
    renewals: reports.reduce((sum, report) => sum + report.renewals, 0),
    leaseLostEvents: reports.reduce((sum, report) => sum + report.leasesLost, 0),
    // The slowest answer of each operation, over every worker (ms).
    slowestMs: reports.reduce((all, report) => {
      for (const [name, ms] of Object.entries(report.slowest)) {
        all[name] = Math.max(all[name] ?? 0, Math.round(ms));
      }
      return all;
    }, {}),
    leaseHealth: sumLeaseHealth(reports.map((report) => report.leaseHealth)),
    requests: reports.reduce((sum, report) => sum + report.requests, 0),
  };
}

/** Every invariant of the fenced phase; an empty list means it passed. */
export function fencedViolations(result) {
  const failed = [];
  if (result.calls !== result.keys * result.callers) {
    failed.push(`calls ${result.calls} != keys x callers ${result.keys * result.callers}`);
  }
  if (result.orderItems !== result.keysCompleted) {
    failed.push(`order items ${result.orderItems} != keys completed ${result.keysCompleted}`);
  }
  // A stall key completes by the caller that took it over, or by its stalled holder when no
  // one did (the fence still holds then): no key is left without an answer.
  if (result.keysCompleted !== result.keys) {
    failed.push(`keys completed ${result.keysCompleted} != keys ${result.keys}`);
  }
  if (result.duplicates !== 0) failed.push(`${result.duplicates} duplicate order items`);
  if (result.completedWithoutOrder !== 0) {
    failed.push(`${result.completedWithoutOrder} answered keys without an order item`);
  }
  if (result.ordersWithoutAnswer !== 0) {
    failed.push(`${result.ordersWithoutAnswer} order items no caller was answered with`);
  }
  if (result.disagreements !== 0) {
    failed.push(`${result.disagreements} keys whose callers got different answers`);
  }
  if (result.lost !== 0) failed.push(`${result.lost} acknowledged answers lost`);
  // Keys without a stall are plain contention, renewal on: every caller answered.
  if (result.plainKeyFailures !== 0) {
    failed.push(`${result.plainKeyFailures} failed callers on keys without a stall`);
  }
  if (result.plainKeysIncomplete !== 0) {
    failed.push(`${result.plainKeysIncomplete} keys without a stall not completed`);
  }
  if (result.otherErrors !== 0) failed.push(`${result.otherErrors} errors other than CONFLICT`);
  // Only a holder that stalled with renewal off may lose its lease.
  if (result.leaseLostOther !== 0) {
    failed.push(`${result.leaseLostOther} lease-lost errors of callers that did not stall`);
  }
  if (result.leaseLostStalled === 0) {
    failed.push('no stalled holder lost its lease: the run fenced nothing');
  }
  return failed;
}

/**
 * The fenced phase (needs transactions: DynamoDB Local, not dynalite). Rejects like runStress.
 */
export async function runFencedStress(options = {}) {
  const config = resolveOptions({ ...FENCED_PHASE, ...options });
  const fenced = { ...FENCED_PHASE.fenced, ...options.fenced };
  if (!(fenced.stallShare > 0 && fenced.stallShare <= 1)) {
    throw new Error(
      `stress option "fenced.stallShare" must be in (0, 1] (got ${fenced.stallShare})`,
    );
  }
  if (!(fenced.stallMs > fenced.stallLockTtl)) {
    throw new Error(
      `stress option "fenced.stallMs" (${fenced.stallMs}) must exceed fenced.stallLockTtl (${fenced.stallLockTtl})`,
    );
  }
  config.fenced = fenced;
  return runWorkers(config, { fenced }, (run) => tallyFenced(config, run));
}
