// The lease envelope: the request latency / lockTtl ratio at which leases start to lapse, and what
// the lease watch (`leaseHealth()`, `leaseAtRisk`) reports on the way there. Not part of
// `npm test`: `npm run envelope [-- --backend dynalite|dynamodb-local]` runs it (test/envelope/
// run.mjs lists every knob) and stops by itself within its budget.
//
// For each lockTtl, and each ratio in turn, the fault proxy holds every request of the adapters
// for ratio × lockTtl (± 10 %): by default its answer, so a write commits on time and its caller
// learns late (ENVELOPE_HOLD=request holds the request itself). Several adapter instances, each
// on a client of its own, run the core's call sequence for a batch of keys: the first caller's
// handler lasts 2–3 × lockTtl, so only renewals carry its lease, and the other callers of the key
// arrive while it runs. A caller that meets CONFLICT (the lock went without a record) or
// LOCK_TIMEOUT tries again, as a client retrying a 409 would: once a lease lapses, that retry
// claims the key and runs it twice. With ENVELOPE_SLOW_INSTANCES only that many instances are
// slow; the others reach the server through a second proxy that adds nothing, so a fast caller
// may claim what a slow holder still renews.

import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { sleep, withDeadline } from '../support/async.js';
import { backend, createClient, createTable } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import { executeLikeCore, ReferenceConflictError } from '../support/coreReference.mjs';
import { type FaultProxy, type LatencyHold, startFaultProxy } from '../support/faultProxy.js';
import { seededRandom } from '../support/seededRandom.mjs';
import { type ServerProcess, startServerProcess } from '../support/serverProcess.js';

function numbers(name: string, fallback: string): number[] {
  const raw = process.env[name] || fallback;
  const values = raw.split(',').map(Number);
  if (values.some((value) => !Number.isFinite(value) || value <= 0)) {
    throw new Error(`${name} must list numbers > 0, comma-separated (got "${raw}")`);
  }
  return values;
}

function integer(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be an integer >= 1 (got "${raw}")`);
  }
  return value;
}

function holdOf(raw: string | undefined): LatencyHold {
  const hold = raw || 'answer';
  if (hold !== 'answer' && hold !== 'request') {
    throw new Error(`ENVELOPE_HOLD must be answer or request (got "${hold}")`);
  }
  return hold;
}

const SETTINGS = {
  backend,
  lockTtls: numbers('ENVELOPE_TTLS', '1000,3000'),
  // Past 0.6 only the steps around the first key run twice matter (0.9 to 1.2 when every
  // instance is as slow, wherever the latency is held); the series ends at that step.
  ratios: numbers('ENVELOPE_RATIOS', '0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.5,0.6,0.9,1,1.2'),
  /** Where the proxy holds each request: its answer (the write commits on time) or itself. */
  hold: holdOf(process.env.ENVELOPE_HOLD),
  instances: integer('ENVELOPE_INSTANCES', 4),
  /** The first this many instances get the latency; the rest none. */
  slowInstances: integer('ENVELOPE_SLOW_INSTANCES', integer('ENVELOPE_INSTANCES', 4)),
  keys: integer('ENVELOPE_KEYS', 16),
  callers: integer('ENVELOPE_CALLERS', 4),
  /** Each request's latency is drawn from ratio × lockTtl × (1 ± jitter). */
  jitter: 0.1,
  /** Handlers last lockTtl × [min, max]: past the first lease, so only renewals carry them. */
  handlerTtls: [2, 3] as const,
  /** Callers after the first arrive within this many lockTtls of it, while its handler runs. */
  arrivalTtls: 2,
  /** Tries after the first for a caller that met CONFLICT or LOCK_TIMEOUT. */
  retries: 3,
  retryPauseMs: 50,
  lockPollInterval: 200,
  seed: integer('ENVELOPE_SEED', Math.floor(Math.random() * 2 ** 30) + 1),
  /** No step starts once this much of the run has passed; the rest are reported as skipped. */
  budgetMs: integer('ENVELOPE_BUDGET_MS', 330_000),
};

if (SETTINGS.slowInstances > SETTINGS.instances) {
  throw new Error('ENVELOPE_SLOW_INSTANCES must not exceed ENVELOPE_INSTANCES');
}

const TABLE = 'lease-envelope';
const WARM_UP_MS = 15_000;
const PREFIX = 'idem';

interface StepResult {
  lockTtl: number;
  ratio: number;
  latencyMs: number;
  /** Requests of the slow instances as they saw them (the SDK's time included), in ms. */
  seenLatencyMs: { p50: number; max: number };
  /** Summed over the instances' `leaseHealth()`; the ratio is the largest. */
  health: { requests: number; atRisk: number; lapsed: number; worstLatencyRatio: number };
  /** `leaseAtRisk` events: all, those with `lapsed`, and per request kind. */
  atRiskEvents: number;
  lapsedEvents: number;
  atRiskByRequest: Record<string, number>;
  /** Median latency of the at-risk events per request kind, in ms (2 requests' worth for a
   * renewal that met the holder's own record where the failed condition returns no item). */
  atRiskLatencyMs: Record<string, number>;
  renewals: number;
  leasesLost: Record<string, number>;
  handlerRuns: number;
  /** Keys whose handler ran more than once, and the runs beyond the first. */
  duplicateKeys: number;
  extraRuns: number;
  /** Keys whose callers got different responses. */
  mismatchedKeys: number;
  conflicts: number;
  lockTimeouts: number;
  /** Callers that failed after their retries, or with any other error. */
  failedCallers: number;
  errorSamples: string[];
  proxyRequests: number;
  wallMs: number;
  timedOut: boolean;
}

let server: Pick<ServerProcess, 'endpoint' | 'kill'>;
let clean: DynamoDBClient;
let proxy: FaultProxy;
let fastProxy: FaultProxy;
const atRisk = recordEvents('leaseAtRisk');
const lost = recordEvents('leaseLost');
const renewed = recordEvents('leaseRenewed');

beforeAll(async () => {
  // The server runs in a process of its own (DynamoDB Local always does): the proxy, the
  // clients and the adapters keep this event loop busy enough.
  server = await startServerProcess();
  clean = createClient(server.endpoint);
  await createTable(clean, TABLE);
  proxy = await startFaultProxy({ target: server.endpoint, seed: SETTINGS.seed });
  fastProxy = await startFaultProxy({ target: server.endpoint, seed: SETTINGS.seed });
});

afterAll(async () => {
  for (const recorder of [atRisk, lost, renewed]) recorder.stop();
  await proxy?.close();
  await fastProxy?.close();
  clean?.destroy();
  await server?.kill();
});

/** A client through a proxy whose every request's duration, as the adapter sees it, is kept. */
function timedClient(through: FaultProxy, durations: number[]): DynamoDBClient {
  const client = createClient(through.endpoint, {
    // Enough sockets that no request queues for one: the added latency is the proxy's alone.
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }) },
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const started = performance.now();
      try {
        return await next(args);
      } finally {
        durations.push(performance.now() - started);
      }
    },
    { step: 'initialize', name: 'envelopeTiming' },
  );
  return client;
}

const codeOf = (error: unknown) => (error as { code?: unknown } | null)?.code;

function describeError(error: unknown): string {
  const err = error as { name?: unknown; code?: unknown; message?: unknown } | null;
  return `${String(err?.name)}/${String(err?.code ?? '')}: ${String(err?.message ?? error).slice(0, 160)}`;
}

function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return counts;
}

function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

async function runStep(
  lockTtl: number,
  ratio: number,
  stepSeed: number,
  label = `t${lockTtl}/r${ratio}`,
): Promise<StepResult> {
  const latencyMs = Math.round(ratio * lockTtl);
  proxy.setLatency({
    ms: latencyMs,
    jitterMs: Math.round(latencyMs * SETTINGS.jitter),
    hold: SETTINGS.hold,
  });
  const scope = `${label}/`;
  const durations: number[] = [];
  const fastDurations: number[] = [];
  const clients = Array.from({ length: SETTINGS.instances }, (_, i) =>
    i < SETTINGS.slowInstances
      ? timedClient(proxy, durations)
      : timedClient(fastProxy, fastDurations),
  );
  const adapters = clients.map(
    (client) => new ElectroDynamoAdapter({ client, table: TABLE, prefix: PREFIX }),
  );
  const [handlerMin, handlerMax] = SETTINGS.handlerTtls;
  const core = {
    lockTtl,
    // Covers the slowest handler and a few slow requests: a wait ends early only on a lapse.
    lockTimeout: handlerMax * lockTtl + 6 * latencyMs + 2_000,
    lockPollInterval: SETTINGS.lockPollInterval,
  };
  const random = seededRandom(stepSeed);
  const runs = new Map<string, number>();
  const responses = new Map<string, Set<string>>();
  let conflicts = 0;
  let lockTimeouts = 0;
  const failures: string[] = [];

  async function caller(
    key: string,
    adapter: ElectroDynamoAdapter,
    arrivalMs: number,
    handlerMs: number,
  ) {
    await sleep(arrivalMs);
    const handler = async () => {
      const run = (runs.get(key) ?? 0) + 1;
      runs.set(key, run);
      await sleep(handlerMs);
      return { key, run };
    };
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await executeLikeCore(adapter, key, handler, core);
        const seen = responses.get(key) ?? new Set<string>();
        seen.add(JSON.stringify(response));
        responses.set(key, seen);
        return;
      } catch (error) {
        const conflict = error instanceof ReferenceConflictError;
        const timeout = codeOf(error) === 'LOCK_TIMEOUT';
        if (conflict) conflicts += 1;
        if (timeout) lockTimeouts += 1;
        if (!(conflict || timeout) || attempt >= SETTINGS.retries) {
          failures.push(`${key}: ${describeError(error)}`);
          return;
        }
        await sleep(SETTINGS.retryPauseMs);
      }
    }
  }

  const calls: Promise<void>[] = [];
  for (let k = 0; k < SETTINGS.keys; k += 1) {
    const key = `${scope}k${k}`;
    const handlerMs = lockTtl * (handlerMin + (handlerMax - handlerMin) * random());
    for (let c = 0; c < SETTINGS.callers; c += 1) {
      // The key's callers spread over the instances, and so do its first callers.
      const adapter = adapters[(k + c) % adapters.length] as ElectroDynamoAdapter;
      const arrivalMs = c === 0 ? 0 : random() * SETTINGS.arrivalTtls * lockTtl;
      calls.push(caller(key, adapter, arrivalMs, handlerMs));
    }
  }

  const received = proxy.received() + fastProxy.received();
  const started = performance.now();
  // Every caller is bounded by its lock waits; this only keeps a wedged step from stalling the run.
  const stepDeadlineMs =
    SETTINGS.arrivalTtls * lockTtl + (SETTINGS.retries + 1) * (core.lockTimeout + 4 * latencyMs);
  let timedOut = false;
  await withDeadline(stepDeadlineMs, `step ${scope}`, Promise.all(calls)).catch(() => {
    timedOut = true;
  });
  const wallMs = performance.now() - started;
  const proxyRequests = proxy.received() + fastProxy.received() - received;

  const health = { requests: 0, atRisk: 0, lapsed: 0, worstLatencyRatio: 0 };
  for (const adapter of adapters) {
    const seen = adapter.leaseHealth();
    health.requests += seen.requests;
    health.atRisk += seen.atRisk;
    health.lapsed += seen.lapsed;
    health.worstLatencyRatio = Math.max(health.worstLatencyRatio, seen.worstLatencyRatio);
    await adapter.disconnect();
  }
  for (const client of clients) client.destroy();
  proxy.setLatency(0);

  const inScope = <T extends { key: string }>(events: readonly T[]) =>
    events.filter((event) => event.key.startsWith(scope));
  const stepAtRisk = inScope(atRisk.events);
  const handlerRuns = [...runs.values()].reduce((sum, n) => sum + n, 0);
  return {
    lockTtl,
    ratio,
    latencyMs,
    seenLatencyMs: {
      p50: Math.round(percentile(durations, 0.5)),
      max: Math.round(Math.max(0, ...durations)),
    },
    health,
    atRiskEvents: stepAtRisk.length,
    lapsedEvents: stepAtRisk.filter((event) => event.lapsed).length,
    atRiskByRequest: countBy(stepAtRisk, (event) => event.request),
    atRiskLatencyMs: Object.fromEntries(
      Object.keys(countBy(stepAtRisk, (event) => event.request)).map((request) => [
        request,
        Math.round(
          percentile(
            stepAtRisk.filter((event) => event.request === request).map((event) => event.latencyMs),
            0.5,
          ),
        ),
      ]),
    ),
    renewals: inScope(renewed.events).length,
    leasesLost: countBy(inScope(lost.events), (event) => event.reason),
    handlerRuns,
    duplicateKeys: [...runs.values()].filter((n) => n > 1).length,
    extraRuns: handlerRuns - runs.size,
    mismatchedKeys: [...responses.values()].filter((seen) => seen.size > 1).length,
    conflicts,
    lockTimeouts,
    failedCallers: failures.length,
    errorSamples: failures.slice(0, 3),
    proxyRequests,
    wallMs: Math.round(wallMs),
    timedOut,
  };
}

const fixed = (value: number, digits: number) => value.toFixed(digits);
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ') || '-';

const COLUMNS: [string, (step: StepResult) => string][] = [
  ['ratio', (s) => fixed(s.ratio, 2)],
  ['added ms', (s) => String(s.latencyMs)],
  ['p50/max ms', (s) => `${s.seenLatencyMs.p50}/${s.seenLatencyMs.max}`],
  ['lease reqs', (s) => String(s.health.requests)],
  ['atRisk', (s) => String(s.health.atRisk)],
  ['lapsed', (s) => String(s.health.lapsed)],
  ['worst ratio', (s) => fixed(s.health.worstLatencyRatio, 3)],
  ['events (lapsed)', (s) => `${s.atRiskEvents} (${s.lapsedEvents})`],
  ['dup keys', (s) => String(s.duplicateKeys)],
  ['extra runs', (s) => String(s.extraRuns)],
  ['conflicts', (s) => String(s.conflicts)],
  ['lost', (s) => counts(s.leasesLost)],
  ['wall s', (s) => fixed(s.wallMs / 1000, 1)],
];

function table(steps: readonly StepResult[]): string {
  const rows = [COLUMNS.map(([title]) => title), ...steps.map((s) => COLUMNS.map(([, f]) => f(s)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) => row.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  '))
    .join('\n');
}

function envelopeOf(steps: readonly StepResult[]): string[] {
  const first = (test: (step: StepResult) => boolean) => steps.find(test);
  const ratioOf = (step: StepResult | undefined) => (step ? fixed(step.ratio, 2) : 'none');
  const firstAtRisk = first((s) => s.health.atRisk > 0);
  const firstLapse = first((s) => s.health.lapsed > 0);
  const firstDuplicate = first((s) => s.duplicateKeys > 0);
  const firstEither = first((s) => s.health.lapsed > 0 || s.duplicateKeys > 0);
  const before = firstEither === undefined ? undefined : steps[steps.indexOf(firstEither) - 1];
  return [
    `first ratio with atRisk > 0:            ${ratioOf(firstAtRisk)}`,
    `first ratio with lapsed > 0:            ${ratioOf(firstLapse)}`,
    `first ratio with a key run twice:       ${ratioOf(firstDuplicate)}`,
    `first ratio with either (the envelope): ${ratioOf(firstEither)}`,
    before === undefined
      ? 'the step before it: none'
      : `the step before it (${fixed(before.ratio, 2)}): atRisk ${before.health.atRisk}, lapsed ${before.health.lapsed}, worst ratio ${fixed(before.health.worstLatencyRatio, 3)}`,
  ];
}

it(
  `finds the latency / lockTtl ratio at which leases lapse (${backend})`,
  async () => {
    const runStarted = performance.now();
    const { budgetMs, ...shown } = SETTINGS;
    console.log(`envelope: ${JSON.stringify({ ...shown, budgetMs })}`);
    // Steps without added latency first, for WARM_UP_MS, left out of the figures: a fresh
    // DynamoDB Local's JVM answers its first thousands of requests slowly (up to 1.8 s) while
    // it compiles them.
    const warmUp: StepResult[] = [];
    while (warmUp.length === 0 || performance.now() - runStarted < WARM_UP_MS) {
      const round = warmUp.length;
      const step = await runStep(
        SETTINGS.lockTtls[0] ?? 1_000,
        0,
        SETTINGS.seed - round,
        `w${round}`,
      );
      warmUp.push(step);
      console.log(`envelope warm-up ${JSON.stringify(step)}`);
    }
    const results: StepResult[] = [];
    const skipped: string[] = [];
    let step = 0;
    for (const lockTtl of SETTINGS.lockTtls) {
      for (const ratio of SETTINGS.ratios) {
        step += 1;
        if (performance.now() - runStarted > budgetMs) {
          skipped.push(`t${lockTtl}/r${ratio}`);
          continue;
        }
        const result = await runStep(lockTtl, ratio, SETTINGS.seed + step);
        results.push(result);
        console.log(`envelope step ${JSON.stringify(result)}`);
        // Larger ratios only lapse more: the series ends at its first key run twice.
        if (result.duplicateKeys > 0) break;
      }
    }
    const wallSeconds = (performance.now() - runStarted) / 1000;

    const report: string[] = [];
    report.push(
      `\nLease envelope on ${backend}, latency held at the ${SETTINGS.hold}, ` +
        `${SETTINGS.instances} instances (${SETTINGS.slowInstances} slow), ${SETTINGS.keys} keys x ${SETTINGS.callers} callers per ` +
        `step, handlers ${SETTINGS.handlerTtls.join('-')} x lockTtl, seed ${SETTINGS.seed}`,
    );
    for (const lockTtl of SETTINGS.lockTtls) {
      const steps = results.filter((result) => result.lockTtl === lockTtl);
      if (steps.length === 0) continue;
      report.push(`\nlockTtl ${lockTtl} ms`, table(steps), ...envelopeOf(steps));
      for (const result of steps.filter((s) => s.failedCallers > 0 || s.timedOut)) {
        report.push(
          `  ratio ${result.ratio}: ${result.failedCallers} failed callers` +
            `${result.timedOut ? ', step timed out' : ''}; ${result.errorSamples.join('; ')}`,
        );
      }
    }
    if (skipped.length > 0) report.push(`skipped (budget ${budgetMs} ms): ${skipped.join(' ')}`);
    report.push(`wall time ${wallSeconds.toFixed(1)} s`);
    console.log(report.join('\n'));

    const directory = new URL('../.tmp/envelope/', import.meta.url);
    mkdirSync(directory, { recursive: true });
    const file = new URL(
      `${backend}-${SETTINGS.hold}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
      directory,
    );
    const raw = { settings: SETTINGS, wallSeconds, warmUp, results };
    writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`);
    console.log(`raw results: ${file.pathname}`);

    expect(results.length).toBeGreaterThan(0);
  },
  // The run bounds itself (budgetMs, then at most one step); this is only the last resort.
  SETTINGS.budgetMs + 10 * 60_000,
);
