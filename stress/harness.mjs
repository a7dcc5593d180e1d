// Multi-process contention run: one in-memory dynalite on 127.0.0.1 in this process (or the
// DynamoDB at `options.endpoint`, such as DynamoDB Local), several worker processes
// (stress/worker.mjs), each with its own client and adapter, calling the same
// keys at the same time through the core's call sequence. Shared by `npm run stress` and the
// light variant in the test suite.

import { fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { loadBuiltPackage } from './builtPackage.mjs';
import { sumLeaseHealth } from './leaseHealth.mjs';
import { keyName } from './prng.mjs';

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
  const { createIdempotencyTable } = await loadBuiltPackage();

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

    const table = await scanTable(client, TABLE);
    return {
      seed: config.seed,
      processes: config.processes,
      keys: config.keys,
      callers: config.callers,
      ...tally(config, reports, table),
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
