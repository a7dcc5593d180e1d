// npm run bench: this adapter (in its default and claim-on-miss modes) against the cacheKey-table
// baseline and Powertools, in one run, on
// one backend on 127.0.0.1: an in-process dynalite (the default) or AWS's DynamoDB Local in a
// Java child process (`--backend dynamodb-local`, or BENCH_BACKEND=dynamodb-local). Every loop is
// bounded in count, a watchdog bounds the whole run in time, and the backend is stopped on every
// way out. Writes that backend's section of bench/RESULTS.md, keeping the other's.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ElectroDynamoAdapter } from '../dist/index.js';
import { CacheKeyBaselineAdapter } from './contenders/cacheKeyBaseline.mjs';
import { PowertoolsDriver } from './contenders/powertools.mjs';
import { parseBenchArguments } from './lib/arguments.mjs';
import { BACKEND_TITLES, startBackend } from './lib/backends.mjs';
import { costPerMillion } from './lib/capacity.mjs';
import { BODIES, capacityPerFlow } from './lib/capacityFlows.mjs';
import { countedClient } from './lib/clients.mjs';
import {
  FENCE_FLOW_TITLES,
  FENCE_FLOWS,
  fencedWritesUnavailable,
  measureFencedWrites,
} from './lib/fencedWrites.mjs';
import { CORE_OPTIONS, flowsFor, response } from './lib/flows.mjs';
import { THROWING } from './lib/heap.mjs';
import { table, withSection } from './lib/results.mjs';
import { micros, ratio, summarize } from './lib/stats.mjs';

const started = Date.now();
const log = (line) =>
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);

/** Setup errors (a wrong argument, no Java) are the user's to fix: their message, no stack. */
function fail(error) {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exit(1);
}

let backendName;
let prices;
try {
  ({ backend: backendName, prices } = parseBenchArguments(process.argv.slice(2), process.env));
} catch (error) {
  fail(error);
}
const title = BACKEND_TITLES[backendName];
const SIZE = {
  warmup: Number(process.env.BENCH_WARMUP ?? 300),
  flows: Number(process.env.BENCH_FLOWS ?? 2_000),
  // A multiple of the number of contenders, so each runs first in as many rounds as the others.
  rounds: 8,
  contentionCallers: 16,
  // Keys whose contention requests are counted; the count depends on timing (waiters' polls).
  contentionCounts: 5,
  throughputFlows: Number(process.env.BENCH_THROUGHPUT_FLOWS ?? 2_000),
  throughputConcurrency: 32,
  cpuCalls: Number(process.env.BENCH_CPU_CALLS ?? 3_000),
  heapFlows: Number(process.env.BENCH_HEAP_FLOWS ?? 100_000),
  // Flows per contender, kind and response size whose capacity units are metered.
  capacityFlows: Number(process.env.BENCH_CAPACITY_FLOWS ?? 20),
  // Fenced writes (DynamoDB Local only): first executions per flow, alternating with the other.
  fenceFlows: Number(process.env.BENCH_FENCE_FLOWS ?? 2_000),
  fenceWarmup: Number(process.env.BENCH_FENCE_WARMUP ?? 200),
  // The whole run, start to report (a watchdog stops it past this); a few minutes with defaults.
  timeoutSeconds: Number(process.env.BENCH_TIMEOUT_S ?? 900),
};
const loadAtStart = os.loadavg()[0];
// The fenced-write comparison needs transactions: DynamoDB Local only.
const fenceSkipped = fencedWritesUnavailable(backendName);

// ---------------------------------------------------------------- backend
// Whatever ends this process, the backend goes with it: an uncaught error ('exit'), a signal,
// or the watchdog. The normal path stops it before the CPU and heap measurements. A signal that
// arrives while the backend is still starting takes effect as soon as it has started (within the
// launcher's own start timeout), since only then can it be stopped.
let backend;
let interruptedBy;
const exitOnSignal = (signal) => {
  log(`${signal}: stopping ${title}`);
  backend.stopNow();
  process.exit(128 + os.constants.signals[signal]);
};
process.on('exit', () => backend?.stopNow());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    if (backend === undefined) interruptedBy = signal;
    else exitOnSignal(signal);
  });
}
if (fenceSkipped !== undefined) log(`fenced writes skipped: ${fenceSkipped}`);
log(`starting ${title}`);
backend = await startBackend(backendName, log).catch(fail);
const backendReadyMs = Date.now() - started;
if (interruptedBy !== undefined) exitOnSignal(interruptedBy);
const watchdog = setTimeout(
  () => {
    log(`run exceeded BENCH_TIMEOUT_S=${SIZE.timeoutSeconds}: stopping ${title} and giving up`);
    backend.stopNow();
    process.exit(1);
  },
  SIZE.timeoutSeconds * 1000 - (Date.now() - started),
);
watchdog.unref();

async function createTable(client, name, keys) {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keys.map(([AttributeName]) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
    }),
  );
}

/**
 * What the backend does where backends differ and the notes depend on it: does a failed
 * conditional put return the stored item when asked to (ReturnValuesOnConditionCheckFailure),
 * and what read capacity does it report for consistent and eventually consistent reads.
 */
async function probeBackend(client) {
  const TableName = 'bench-probe';
  await createTable(client, TableName, [['id', 'HASH']]);
  const Key = { id: { S: 'probe' } };
  await client.send(new PutItemCommand({ TableName, Item: { ...Key, v: { S: 'stored' } } }));
  let returnsOldItem;
  try {
    await client.send(
      new PutItemCommand({
        TableName,
        Item: Key,
        ConditionExpression: 'attribute_not_exists(id)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    throw new Error('probe: a conditional put on an existing item succeeded');
  } catch (error) {
    if (error.name !== 'ConditionalCheckFailedException') throw error;
    returnsOldItem = error.Item?.v?.S === 'stored';
  }
  const capacity = async (ConsistentRead) => {
    const { ConsumedCapacity } = await client.send(
      new GetItemCommand({ TableName, Key, ConsistentRead, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return ConsumedCapacity?.CapacityUnits;
  };
  return {
    returnsOldItem,
    capacity: { consistent: await capacity(true), eventual: await capacity(false) },
  };
}

// ---------------------------------------------------------------- measurements on the backend
async function measureOn(endpoint) {
  const clients = [];
  const counted = () => {
    const c = countedClient(endpoint);
    clients.push(c);
    return c;
  };
  try {
    // Each contender is built on a client of its own: `make` is also how the capacity flows
    // build further instances of it.
    const specs = [
      {
        name: 'ElectroDynamoAdapter',
        kind: 'adapter',
        make: (client) => ({
          adapter: new ElectroDynamoAdapter({ client, table: 'app-table', prefix: 'idem' }),
        }),
      },
      {
        name: 'cacheKey baseline',
        kind: 'adapter',
        make: (client) => ({ adapter: new CacheKeyBaselineAdapter(client, 'idempotency-cache') }),
      },
      {
        name: 'Powertools',
        kind: 'powertools',
        make: (client) => ({ driver: new PowertoolsDriver(client, 'powertools-idempotency') }),
      },
      {
        name: 'ElectroDynamoAdapter, claimOnMiss',
        kind: 'adapter',
        // As a user would configure it: the lease is learned from the core's first acquireLock.
        make: (client) => ({
          adapter: new ElectroDynamoAdapter({
            client,
            table: 'app-table',
            prefix: 'idem',
            claimOnMiss: true,
          }),
        }),
      },
    ];
    const all = specs.map((spec) => {
      const c = counted();
      return { ...spec, ...c, ...spec.make(c.client) };
    });
    const setup = counted();
    await createTable(setup.client, 'app-table', [
      ['pk', 'HASH'],
      ['sk', 'RANGE'],
    ]);
    await createTable(setup.client, 'idempotency-cache', [['cacheKey', 'HASH']]);
    await createTable(setup.client, 'powertools-idempotency', [['id', 'HASH']]);
    const probe = await probeBackend(setup.client);
    for (const c of all) c.flows = flowsFor(c);
    const powertools = all[2];

    let keySeq = 0;
    const freshKey = () => `k-${process.pid}-${++keySeq}`;
    // One flow each before anything is counted: the SDK's lazy modules, and the lease a
    // claim-on-miss instance learns from the core's first acquireLock (that first flow of an
    // instance corrects its claim's lease: 3 requests; see the README).
    for (const c of all) await c.flows.first(freshKey());

    // -------------------------------------------------------------- requests per flow
    async function requestsFor(contender, run) {
      contender.counter.requests = 0;
      const outcome = await run();
      return { count: contender.counter.requests, outcome };
    }
    const requests = new Map();
    let powertoolsInProgress = 0;
    for (const c of all) {
      const key = freshKey();
      const first = (await requestsFor(c, () => c.flows.first(key))).count;
      const replay = (await requestsFor(c, () => c.flows.replay(key))).count;
      const contention = [];
      for (let k = 0; k < SIZE.contentionCounts; k++) {
        const contentionKey = freshKey();
        const { count, outcome } = await requestsFor(c, () =>
          Promise.all(
            Array.from({ length: SIZE.contentionCallers }, () =>
              c.flows.contended(contentionKey, async () => {
                await new Promise((resolve) => setTimeout(resolve, 2));
                return response(contentionKey);
              }),
            ),
          ),
        );
        contention.push(count);
        if (c === powertools) {
          powertoolsInProgress += outcome.filter((r) => r === 'in-progress').length;
        }
      }
      contention.sort((a, b) => a - b);
      requests.set(c.name, { first, replay, contention });
    }
    log('requests per flow measured');

    // -------------------------------------------------------------- latency
    /** Runs flows of one kind for one contender, sequentially, returning µs samples. */
    async function sequential(contender, kind, keys) {
      const samples = [];
      for (const key of keys) {
        const t = process.hrtime.bigint();
        await contender.flows[kind](key);
        samples.push(micros(t));
      }
      return samples;
    }

    async function contentionRound(contender) {
      const key = freshKey();
      const handler = async () => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        return response(key);
      };
      return Promise.all(
        Array.from({ length: SIZE.contentionCallers }, async () => {
          const t = process.hrtime.bigint();
          await contender.flows.contended(key, handler);
          return micros(t);
        }),
      );
    }

    const latency = new Map(all.map((c) => [c.name, { first: [], replay: [], contention: [] }]));
    const replayKeys = new Map();
    for (const c of all) {
      const keys = Array.from({ length: 200 }, freshKey);
      for (const key of keys) await c.flows.first(key);
      replayKeys.set(c.name, keys);
      // Warm-up: JIT (the client's, and the JVM's on DynamoDB Local), connection pools, caches.
      await sequential(c, 'first', Array.from({ length: SIZE.warmup }, freshKey));
      await sequential(
        c,
        'replay',
        Array.from({ length: SIZE.warmup }, (_, i) => keys[i % keys.length]),
      );
    }
    const perRound = Math.ceil(SIZE.flows / SIZE.rounds);
    async function timed(contender, kind, key) {
      const t = process.hrtime.bigint();
      await contender.flows[kind](key);
      return micros(t);
    }
    for (let round = 0; round < SIZE.rounds; round++) {
      // One flow per contender in turn, the order rotating each round, so drift on a shared
      // machine (other load, GC, the backend's growing tables) lands on every contender alike.
      const order = all.map((_, i) => all[(i + round) % all.length]);
      for (let i = 0; i < perRound; i++) {
        for (const c of order) latency.get(c.name).first.push(await timed(c, 'first', freshKey()));
        for (const c of order) {
          const keys = replayKeys.get(c.name);
          latency.get(c.name).replay.push(await timed(c, 'replay', keys[i % keys.length]));
        }
      }
      for (let i = 0; i < Math.ceil(perRound / SIZE.contentionCallers); i++) {
        for (const c of order) latency.get(c.name).contention.push(...(await contentionRound(c)));
      }
      log(`latency round ${round + 1}/${SIZE.rounds}`);
    }

    // -------------------------------------------------------------- opt-in local cache
    const cachedClient = counted();
    const cachedAdapter = new ElectroDynamoAdapter({
      client: cachedClient.client,
      table: 'app-table',
      prefix: 'idem',
      localCache: { maxEntries: 1_000 },
    });
    const cachedFlows = flowsFor({ kind: 'adapter', adapter: cachedAdapter });
    const cachedKeys = replayKeys.get(all[0].name);
    for (const key of cachedKeys) await cachedFlows.replay(key); // warm: one read per key
    cachedClient.counter.requests = 0;
    const cachedSamples = [];
    for (let i = 0; i < SIZE.flows; i++) {
      const t = process.hrtime.bigint();
      await cachedFlows.replay(cachedKeys[i % cachedKeys.length]);
      cachedSamples.push(micros(t));
    }
    const cachedReplay = {
      ...summarize(cachedSamples),
      requests: cachedClient.counter.requests / SIZE.flows,
    };
    log('local cache measured');

    // -------------------------------------------------------------- throughput
    async function throughput(contender, flows) {
      let next = 0;
      const t = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: SIZE.throughputConcurrency }, async () => {
          while (next < flows) {
            next += 1;
            await contender.flows.first(freshKey());
          }
        }),
      );
      return micros(t);
    }
    const throughputMicros = new Map(all.map((c) => [c.name, 0]));
    const throughputPerRound = Math.ceil(SIZE.throughputFlows / SIZE.rounds);
    for (let round = 0; round < SIZE.rounds; round++) {
      for (let i = 0; i < all.length; i++) {
        const c = all[(i + round) % all.length];
        throughputMicros.set(
          c.name,
          throughputMicros.get(c.name) + (await throughput(c, throughputPerRound)),
        );
      }
    }
    const flowsPerSecond = new Map(
      [...throughputMicros].map(([name, us]) => [
        name,
        (throughputPerRound * SIZE.rounds) / (us / 1e6),
      ]),
    );
    log('throughput measured');

    // -------------------------------------------------------------- capacity units per flow
    const capacity = new Map();
    for (const spec of specs) {
      capacity.set(
        spec.name,
        await capacityPerFlow(spec, () => counted().client, freshKey, {
          flows: SIZE.capacityFlows,
        }),
      );
    }
    log('capacity measured');

    // -------------------------------------------------------------- fenced writes
    let fenced;
    if (fenceSkipped === undefined) {
      fenced = await measureFencedWrites({
        counted,
        freshKey,
        flows: SIZE.fenceFlows,
        warmup: SIZE.fenceWarmup,
        capacityFlows: SIZE.capacityFlows,
      });
      log('fenced writes measured');
    }

    const retries = clients.reduce((sum, { counter }) => sum + counter.retries, 0);
    return {
      all,
      probe,
      requests,
      powertoolsInProgress,
      powertoolsReplays: { ...powertools.driver.replays },
      latency,
      cachedReplay,
      flowsPerSecond,
      capacity,
      fenced,
      retries,
    };
  } finally {
    for (const { client } of clients) client.destroy();
  }
}

let measured;
try {
  measured = await measureOn(backend.endpoint);
} finally {
  await backend.stop();
}
const { all, probe, requests, latency, cachedReplay, flowsPerSecond, capacity, fenced } = measured;
const [ours, baseline, powertools, claiming] = all;

// ---------------------------------------------------------------- CPU and heap (stub clients)
const isolated = await new Promise((resolve, reject) => {
  execFile(
    process.execPath,
    [
      '--expose-gc',
      fileURLToPath(new URL('./isolated.mjs', import.meta.url)),
      String(SIZE.cpuCalls),
      String(SIZE.heapFlows),
    ],
    { maxBuffer: 1 << 20, timeout: 170_000 },
    (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
  );
});
const cpu = new Map(isolated.cpu);
const heap = new Map(isolated.heap);
log('cpu and heap measured');

// ---------------------------------------------------------------- report
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const x = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
const ms = (us) => `${fmt(us / 1000, 2)} ms`;
const median = (sorted) => sorted[Math.floor((sorted.length - 1) / 2)];
const stats = new Map(
  [...latency].map(([name, s]) => [
    name,
    { first: summarize(s.first), replay: summarize(s.replay), contention: summarize(s.contention) },
  ]),
);
const base = stats.get(baseline.name);
const lines = [];
lines.push(`## ${title}`, '');
lines.push(`- Date: ${new Date().toISOString()}`);
lines.push(`- Backend: ${backendName} — ${backend.description}, on 127.0.0.1`);
lines.push(
  `- Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}, ${os.platform()} ${os.arch()}; 1-minute load average ${fmt(loadAtStart, 2)} at the start, ${fmt(os.loadavg()[0], 2)} at the end`,
);
const overrides = Object.entries(process.env)
  .filter(([name]) => name.startsWith('BENCH_'))
  .map(([name, value]) => `${name}=${value} `)
  .join('');
const args = process.argv.slice(2).join(' ');
const command =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${args ? ` -- ${args}` : ''}`
    : `node bench/run.mjs${args ? ` ${args}` : ''}`;
lines.push(
  `- Command: \`${overrides}${command}\` (backend ${backendName}${args || process.env.BENCH_BACKEND ? '' : ', the default'}; CPU and heap in a fresh child process on stub clients)`,
);
lines.push(
  `- Size: ${SIZE.flows} measured flows per flow kind and contender after ${SIZE.warmup} warm-up flows, in ${SIZE.rounds} interleaved rounds; contention: ${SIZE.contentionCallers} callers per key; throughput: ${SIZE.throughputFlows} first executions at concurrency ${SIZE.throughputConcurrency}; CPU: ${SIZE.cpuCalls} flows per contender on stub clients; heap: ${SIZE.heapFlows} flows${fenced ? `; fenced writes: ${fenced.flows} first executions per flow after ${fenced.warmup} warm-up` : ''}.`,
);
lines.push(
  `- Run time: ${fmt((Date.now() - started) / 1000, 0)} s, of which ${fmt(backendReadyMs / 1000, 1)} s starting the backend`,
  '',
);

lines.push('### Ratios to the baseline (lower is better, except throughput)', '');
lines.push(
  ...table(
    [
      'Contender',
      'first execution p50',
      'replay p50',
      'contention p50',
      'CPU, first execution',
      'CPU, replay',
      'CPU per adapter call',
      'throughput',
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    all.map((c) => {
      const s = stats.get(c.name);
      return [
        c.name,
        x(ratio(s.first.p50, base.first.p50)),
        x(ratio(s.replay.p50, base.replay.p50)),
        x(ratio(s.contention.p50, base.contention.p50)),
        x(ratio(cpu.get(c.name).first, cpu.get(baseline.name).first)),
        x(ratio(cpu.get(c.name).replay, cpu.get(baseline.name).replay)),
        x(ratio(cpu.get(c.name).perCall, cpu.get(baseline.name).perCall)),
        x(ratio(flowsPerSecond.get(c.name), flowsPerSecond.get(baseline.name))),
      ];
    }),
  ),
);
lines.push('');
const pt = stats.get(powertools.name);
const claimStats = stats.get(claiming.name);
lines.push(
  'Against Powertools (p50, ours / Powertools):',
  '',
  `- default mode: first execution ${x(ratio(stats.get(ours.name).first.p50, pt.first.p50))}, replay ${x(ratio(stats.get(ours.name).replay.p50, pt.replay.p50))}`,
  `- claimOnMiss: first execution ${x(ratio(claimStats.first.p50, pt.first.p50))}, replay ${x(ratio(claimStats.replay.p50, pt.replay.p50))}`,
  '',
);

lines.push('### DynamoDB requests per flow', '');
lines.push(
  ...table(
    [
      'Contender',
      'first execution',
      'replay',
      `contention (${SIZE.contentionCallers} callers, one key): median of ${SIZE.contentionCounts} keys (range)`,
    ],
    ['l', 'r', 'r', 'r'],
    all.map((c) => {
      const r = requests.get(c.name);
      const low = r.contention[0];
      const high = r.contention.at(-1);
      return [
        c.name,
        r.first,
        r.replay,
        `${median(r.contention)} (${low === high ? low : `${low}–${high}`})`,
      ];
    }),
  ),
);
lines.push('');

lines.push('### Latency (absolute)', '');
lines.push(
  ...table(
    [
      'Contender',
      'first p50',
      'first p99',
      'replay p50',
      'replay p99',
      'contention p50',
      'contention p99',
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    all.map((c) => {
      const s = stats.get(c.name);
      return [
        c.name,
        ms(s.first.p50),
        ms(s.first.p99),
        ms(s.replay.p50),
        ms(s.replay.p99),
        ms(s.contention.p50),
        ms(s.contention.p99),
      ];
    }),
  ),
);
lines.push('');

lines.push('### CPU per call (stub client answering at once)', '');
lines.push(
  ...table(
    ['Contender', 'replay flow', 'first-execution flow', 'per adapter call'],
    ['l', 'r', 'r', 'r'],
    all.map((c) => {
      const u = cpu.get(c.name);
      return [c.name, `${fmt(u.replay)} µs`, `${fmt(u.first)} µs`, `${fmt(u.perCall)} µs`];
    }),
  ),
);
lines.push('');
lines.push(
  'Per adapter call = CPU of a first execution plus a replay, divided by the storage calls they make (core sequence: 5 + 1; Powertools: 2 + 1).',
  '',
);

lines.push('### Opt-in local cache (warm replays)', '');
lines.push(
  ...table(
    [
      'Configuration',
      'requests per replay',
      'replay p50',
      'replay p99',
      'p50 ratio to baseline replay',
    ],
    ['l', 'r', 'r', 'r', 'r'],
    [
      [
        'ElectroDynamoAdapter, `localCache: { maxEntries: 1000 }`',
        fmt(cachedReplay.requests, 2),
        ms(cachedReplay.p50),
        ms(cachedReplay.p99),
        x(ratio(cachedReplay.p50, base.replay.p50)),
      ],
    ],
  ),
);
lines.push('');

lines.push('### Throughput and memory', '');
lines.push(
  ...table(
    [
      'Contender',
      `first executions/s at concurrency ${SIZE.throughputConcurrency}`,
      `heap growth over ${SIZE.heapFlows} flows`,
    ],
    ['l', 'r', 'r'],
    all.map((c) => {
      const h = heap.get(c.name);
      return [
        c.name,
        fmt(flowsPerSecond.get(c.name)),
        h === undefined
          ? 'n/a'
          : `${fmt(h.growthKb)} KB (${fmt(h.startMb, 1)} → ${fmt(h.endMb, 1)} MB)`,
      ];
    }),
  ),
);
const throwingHeap = heap.get(THROWING);
if (throwingHeap !== undefined) {
  lines.push(
    '',
    `${THROWING}: heap growth over ${SIZE.heapFlows} flows ${fmt(throwingHeap.growthKb)} KB (${fmt(throwingHeap.startMb, 1)} → ${fmt(throwingHeap.endMb, 1)} MB).`,
  );
}
lines.push('');

// ---------------------------------------------------------------- capacity units
const units = (u) => {
  const computed = u.computedWriteUnits > 0 ? ` + ${fmt(u.computedWriteUnits, 1)}*` : '';
  return `${fmt(u.readUnits, 1)} R / ${fmt(u.writeUnits, 1)}${computed} W`;
};
const dollars = (u) => `$${fmt(costPerMillion(u, prices), 2)}`;
const FLOW_TITLES = {
  first: 'first execution',
  replay: 'replay',
  waited: 'lost claim, waits, replays',
};
lines.push('### Capacity units per flow, and what they cost', '');
lines.push(
  `Read (R) and write (W) request units per flow, metered with \`ReturnConsumedCapacity: 'TOTAL'\` on every request (${SIZE.capacityFlows} flows per cell, each contender on clients of its own), with a ${Object.keys(BODIES).join(' and a ')} handler response. Cost: US dollars per million flows at on-demand prices of $${prices.readPerMillion} per million read and $${prices.writePerMillion} per million write request units (${prices.where}; prices of ${prices.date}, passed as parameters: \`--read-price\`, \`--write-price\`, \`--prices-date\`).`,
  '',
);
const capacityRows = [];
for (const c of all) {
  for (const size of Object.keys(BODIES)) {
    const flows = capacity.get(c.name)[size];
    capacityRows.push([
      c.name,
      size,
      ...Object.keys(FLOW_TITLES).flatMap((flow) => [units(flows[flow]), dollars(flows[flow])]),
    ]);
  }
}
lines.push(
  ...table(
    [
      'Contender',
      'response',
      ...Object.values(FLOW_TITLES).flatMap((title) => [`${title}: units`, '$ / million']),
    ],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    capacityRows,
  ),
);
lines.push(
  '',
  `Units marked * are the write units of rejected conditional writes, computed: DynamoDB reports no consumed capacity with a ConditionalCheckFailedException (nor does ${title}), but charges it as a write of the larger of the stored and the sent item, in 1 KB units, at least 1 ("Capacity units consumed by conditional writes", DynamoDB developer guide). The stored item's size is taken from the item returned with the rejection${probe.returnsOldItem ? '' : `, which ${title} does not return: here they are floors (1 unit or the sent item's size)`}. A claim-on-miss replay and every Powertools replay are such a write: they cost write units sized by the stored record where the default mode's replay costs one strongly consistent read (1 unit per 4 KB).`,
  '',
  `- The lost-claim flow is the same sequence for every core-driven contender: a claim that loses to the holder's lock, one poll that sees the lock, one that sees the record, then the replay. Powertools' caller does not wait: it is refused at once ("already in progress", a rejected conditional put) and its retry after the holder has finished replays (another rejected put).`,
  '',
);

// ---------------------------------------------------------------- fenced writes
lines.push('### Fenced writes: one order item per first execution', '');
const fenceRatio = fenced
  ? ratio(fenced.latency.get('fenced').p50, fenced.latency.get('unfenced').p50)
  : Number.NaN;
if (fenced === undefined) {
  lines.push(`Not measured on ${title}: ${fenceSkipped}.`, '');
} else {
  lines.push(
    `A handler that writes one small order item (pk \`order#<key>\` in \`app-table\`, outside the adapter's prefix) run through the core's call sequence (default mode, lockTtl ${CORE_OPTIONS.lockTtl} ms), in two flows on adapters and clients of their own, alternating which runs first each iteration: ${fenced.flows} first executions per flow after ${fenced.warmup} warm-up ones per flow. Unfenced: the handler sends a plain PutItem (lib-dynamodb \`PutCommand\`). Fenced: inside \`runInFenceScope\`, the handler sends \`fence.send(doc, { TransactItems: [fence.item(), { Put: order }] })\`, one TransactWriteItems. Requests per flow are counted as above (every request the flow's client sent, over all measured flows); capacity units are metered with \`ReturnConsumedCapacity: 'TOTAL'\` over ${fenced.capacityFlows} further flows each, on metered clients of their own.`,
    '',
  );
  const billedWrites = (u) => u.writeUnits + u.computedWriteUnits + u.transactionWriteUnits;
  lines.push(
    ...table(
      [
        'Flow',
        'requests per flow',
        'first p50',
        'first p99',
        'read units',
        'write units',
        'transaction write units (AWS bill, computed)',
        'write units in all',
        '$ / million',
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      FENCE_FLOWS.map((name) => {
        const l = fenced.latency.get(name);
        const u = fenced.capacity.get(name);
        return [
          FENCE_FLOW_TITLES[name],
          fmt(fenced.requests.get(name), 2),
          ms(l.p50),
          ms(l.p99),
          fmt(u.readUnits, 1),
          fmt(u.writeUnits + u.computedWriteUnits, 1),
          u.transactions > 0
            ? `${fmt(u.transactionWriteUnits, 1)} (reported: ${fmt(u.transactionReportedUnits, 1)})`
            : '—',
          fmt(billedWrites(u), 1),
          `$${fmt(costPerMillion(u, prices), 2)}`,
        ];
      }),
    ),
  );
  const f = fenced.latency.get('fenced');
  const u = fenced.latency.get('unfenced');
  lines.push(
    '',
    `Fenced / unfenced: first execution p50 ${x(fenceRatio)} (target ≤ 1.30×: ${fenceRatio <= 1.3 ? 'holds' : 'does not hold'}), p99 ${x(ratio(f.p99, u.p99))}.`,
    '',
    `Where the difference is: this process's CPU time per flow and per handler's write (mean; the flows run one at a time, the backend in a process of its own, so this is the client's work: SDK, ElectroDB, adapter, fence), the handler's write timed inside the measured flows (the fenced one from \`currentFence()\` to \`fence.send\`'s answer), and the same two writes sent bare, without adapter or fence (${fenced.bareCount} of each, alternating; in the transaction, a Put shaped like the fence's item, over an item already there and conditioned on its owner, stands in for it), which is what ${title} itself charges for a transaction:`,
    '',
  );
  const BARE_TITLES = {
    unfenced: 'PutItem',
    fenced: 'TransactWriteItems, 2 Puts',
  };
  lines.push(
    ...table(
      [
        'Flow',
        'client CPU per flow',
        "handler's write: client CPU",
        "handler's write p50",
        "handler's write p99",
        'bare write',
        'bare write p50',
        'bare write p99',
      ],
      ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r'],
      FENCE_FLOWS.map((name) => [
        FENCE_FLOW_TITLES[name],
        `${fmt(fenced.cpu.get(name).flow)} µs`,
        `${fmt(fenced.cpu.get(name).write)} µs`,
        ms(fenced.writes.get(name).p50),
        ms(fenced.writes.get(name).p99),
        BARE_TITLES[name],
        ms(fenced.bare.get(name).p50),
        ms(fenced.bare.get(name).p99),
      ]),
    ),
  );
  const writeDelta = fenced.writes.get('fenced').p50 - fenced.writes.get('unfenced').p50;
  const bareDelta = fenced.bare.get('fenced').p50 - fenced.bare.get('unfenced').p50;
  lines.push(
    '',
    `p50 differences, fenced minus unfenced: whole first execution ${ms(f.p50 - u.p50)}; handler's write ${ms(writeDelta)}; bare writes ${ms(bareDelta)} (${x(ratio(fenced.bare.get('fenced').p50, fenced.bare.get('unfenced').p50))} the PutItem's p50). Client CPU, fenced minus unfenced: ${fmt(fenced.cpu.get('fenced').flow - fenced.cpu.get('unfenced').flow)} µs per flow, ${fmt(fenced.cpu.get('fenced').write - fenced.cpu.get('unfenced').write)} µs in the handler's write.`,
    '',
    `- Transaction write units are computed by AWS's rule for TransactWriteItems, 2 write request units per item and 1 KB (the fence's item and the order item: each under 1 KB), because ${title} reports ${fmt(fenced.capacity.get('fenced').transactionReportedUnits, 1)} per transaction: 1 per item and KB, as for standard writes. "Write units" are the flow's other writes as ${title} reported them.`,
    '',
  );
}

const oursStats = stats.get(ours.name);
const oursRequests = requests.get(ours.name);
const targets = [
  [
    '3 requests per first execution, 1 per replay',
    `${oursRequests.first} / ${oursRequests.replay}`,
    oursRequests.first <= 3 && oursRequests.replay <= 1,
  ],
  [
    'first execution p50 ≤ 0.75× baseline',
    x(ratio(oursStats.first.p50, base.first.p50)),
    ratio(oursStats.first.p50, base.first.p50) <= 0.75,
  ],
  [
    "default mode: first execution p50 no slower than Powertools' (claimOnMiss is the mode for that)",
    x(ratio(oursStats.first.p50, pt.first.p50)),
    oursStats.first.p50 <= pt.first.p50,
  ],
  [
    'claimOnMiss: 2 requests per first execution, replay 1 where the rejection returns the record (else 2)',
    `${requests.get(claiming.name).first} / ${requests.get(claiming.name).replay}`,
    requests.get(claiming.name).first <= 2 &&
      requests.get(claiming.name).replay <= (probe.returnsOldItem ? 1 : 2),
  ],
  [
    "claimOnMiss: first execution p50 ≤ 0.95× Powertools'",
    x(ratio(claimStats.first.p50, pt.first.p50)),
    ratio(claimStats.first.p50, pt.first.p50) <= 0.95,
  ],
  [
    "claimOnMiss: replay p50 ≤ 1.0× Powertools'",
    x(ratio(claimStats.replay.p50, pt.replay.p50)),
    ratio(claimStats.replay.p50, pt.replay.p50) <= 1.0,
  ],
  [
    'replay p50 ≤ 1.10× baseline',
    x(ratio(oursStats.replay.p50, base.replay.p50)),
    ratio(oursStats.replay.p50, base.replay.p50) <= 1.1,
  ],
  ...(fenced === undefined
    ? []
    : [['fenced write: first execution p50 ≤ 1.3× unfenced', x(fenceRatio), fenceRatio <= 1.3]]),
  [
    'CPU per adapter call ≤ 1.5× baseline',
    x(ratio(cpu.get(ours.name).perCall, cpu.get(baseline.name).perCall)),
    ratio(cpu.get(ours.name).perCall, cpu.get(baseline.name).perCall) <= 1.5,
  ],
  ...[ours, claiming].map((c) => {
    const h = heap.get(c.name);
    return [
      `${c.name}: heap flat over ${SIZE.heapFlows} flows (growth < 1 MB)`,
      h === undefined ? 'n/a' : `${fmt(h.growthKb)} KB`,
      h !== undefined && h.growthKb < 1024,
    ];
  }),
  [
    `heap flat over ${SIZE.heapFlows} flows whose handler throws (growth < 1 MB)`,
    throwingHeap === undefined ? 'n/a' : `${fmt(throwingHeap.growthKb)} KB`,
    throwingHeap !== undefined && throwingHeap.growthKb < 1024,
  ],
];
lines.push('### Targets', '');
lines.push(
  ...table(
    ['Target', 'Measured', 'Holds'],
    ['l', 'r', 'l'],
    targets.map(([target, value, holds]) => [target, value, holds ? 'yes' : 'no']),
  ),
);
lines.push('');

// Notes: every backend-specific statement is derived from what this run saw on this backend.
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const powertoolsReplay = requests.get(powertools.name).replay;
const { fromFailedPut, read } = measured.powertoolsReplays;
const replaySeen = `${fromFailedPut} of ${fromFailedPut + read} Powertools replays in this run were answered from the failed put's returned record, ${read} read it`;
const powertoolsNote = probe.returnsOldItem
  ? `- Powertools replays through a conditional put that fails and asks for the stored record back (\`ReturnValuesOnConditionCheckFailure: ALL_OLD\`). ${title} returns it with the failure, as DynamoDB does, so a replay costs ${plural(powertoolsReplay, 'request')} here, as on DynamoDB (${replaySeen}).`
  : `- Powertools replays through a conditional put that fails and asks for the stored record back (\`ReturnValuesOnConditionCheckFailure: ALL_OLD\`). DynamoDB returns it with the failure (1 request); ${title} does not, so its handler reads it: ${plural(powertoolsReplay, 'request')} per replay here (${replaySeen}). Its replay latency here is therefore not what it gets on DynamoDB.`;
const contendedCalls = SIZE.contentionCallers * SIZE.contentionCounts;
const { consistent, eventual } = probe.capacity;
const capacityNote =
  consistent === undefined
    ? `${title} reports no consumed capacity and throttles nothing, so it charges no difference in time.`
    : `${title} reports ${consistent} and ${eventual} read capacity units for a small item read consistently and eventually consistently, but throttles nothing, so it charges no difference in time.`;
const latencyNote =
  backendName === 'dynamodb-local'
    ? '- Latency is measured on one machine against DynamoDB Local in a JVM child process: every request crosses a local HTTP connection, and the JVM competes with the client for the same cores, so client CPU shows up in latency, and a few percent move between runs.'
    : '- Latency is measured on one machine against an in-process dynalite: the server shares the CPU (and the event loop) with the client, so client CPU shows up in latency, and a few percent move between runs.';
lines.push('### Notes', '');
lines.push(
  powertoolsNote,
  `- Requests per flow are counted after one first execution per contender instance. A claimOnMiss instance's very first execution costs 3 requests: its claim was written with the core's default lease (30 s) and \`acquireLock\` rewrote it to the lockTtl asked for (${CORE_OPTIONS.lockTtl} ms here); from then on it claims with that lease. \`claimOnMiss: { lockTtlMs }\` states it from the start.`,
  `- Powertools' contended callers do not wait: all but one fail at once with "already in progress" (here ${contendedCalls - measured.powertoolsInProgress} of ${contendedCalls} contended calls ran the handler, the rest failed), so its contention figures measure something else than the core's wait-then-replay.`,
  `- The core's contention requests depend on how many polls its waiters make before the winner stores its result, hence the range over ${SIZE.contentionCounts} keys.`,
  `- Strongly consistent reads (this adapter, Powertools) cost twice the read capacity of eventually consistent ones (the baseline) on DynamoDB; ${capacityNote}`,
  latencyNote,
  `- SDK retries during the run (HTTP attempts beyond the first, over every request sent): ${measured.retries}.`,
  '',
);

const section = lines.join('\n');
process.stdout.write(`# Benchmark results\n\n${section}\n`);
const resultsUrl = new URL('./RESULTS.md', import.meta.url);
const existing = await readFile(resultsUrl, 'utf8').catch(() => '');
await writeFile(resultsUrl, withSection(existing, backendName, section));
log(`wrote the ${title} section of bench/RESULTS.md`);
