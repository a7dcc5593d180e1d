import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StandardRetryStrategy, type StandardRetryStrategyOptions } from '@smithy/core/retry';
import { seededRandom } from './seededRandom.mjs';

/**
 * What the proxy can do to one request. "Before" faults never reach DynamoDB; "after" faults
 * let the request commit and then lose or spoil the answer, so a write is ambiguous.
 */
export const FAULT_KINDS = [
  'throttle',
  'serverErrorBefore',
  'serverErrorAfter',
  'resetBefore',
  'resetAfter',
  'timeoutBefore',
  'timeoutAfter',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability per received request of each fault; the sum must not exceed 1. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export type FaultCounts = Record<FaultKind, number>;

/**
 * Where added latency holds a forwarded request. `answer` (the default): the request reaches
 * DynamoDB at once and its answer is held back, as on a slow or congested link: the write
 * commits on time and its caller learns late, so the caller's view of its lease (renewed only
 * when the renewal's answer comes) falls behind DynamoDB's. `request`: the request is held
 * before it is forwarded, as a slow server would: the write itself commits late.
 */
export type LatencyHold = 'answer' | 'request';

/**
 * Latency added to every forwarded request: `ms`, or `{ ms, jitterMs }` for a delay drawn
 * uniformly from `ms ± jitterMs` (`jitterMs` at most `ms`). 0 adds none.
 */
export type Latency =
  | number
  | { readonly ms: number; readonly jitterMs?: number; readonly hold?: LatencyHold };

export interface FaultProxyOptions {
  /** Where DynamoDB (dynalite) listens, e.g. http://127.0.0.1:1234. */
  readonly target: string;
  readonly seed: number;
  /** Rates for every operation without rates of its own. */
  readonly rates?: FaultRates;
  /** Latency of every operation without a latency of its own; none by default. */
  readonly latency?: Latency;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly seed: number;
  /** Replaces the rates of operations without rates of their own. */
  setRates(rates: FaultRates): void;
  /** Rates for one operation, named as in X-Amz-Target (`GetItem`, `DeleteItem`, ...). */
  setOperationRates(operation: string, rates: FaultRates): void;
  /** No more faults for any operation; counts are kept, and latency stays as set. */
  disable(): void;
  /** Replaces the latency of operations without a latency of their own; 0 removes it. */
  setLatency(latency: Latency): void;
  /**
   * Latency for one operation, named as in X-Amz-Target, in place of the default one (0 exempts
   * the operation); undefined makes it follow the default again.
   */
  setOperationLatency(operation: string, latency: Latency | undefined): void;
  /** Faults injected so far, in total or for one operation. */
  injected(operation?: string): FaultCounts;
  /** Requests that reached DynamoDB so far, in total or for one operation. */
  forwarded(operation?: string): number;
  /** Requests received so far, in total or for one operation. */
  received(operation?: string): number;
  close(): Promise<void>;
}

export function zeroCounts(): FaultCounts {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as FaultCounts;
}

export function totalOf(counts: FaultCounts): number {
  return FAULT_KINDS.reduce((sum, kind) => sum + counts[kind], 0);
}

const AWS_ERRORS = {
  throttle: {
    status: 400,
    type: 'ProvisionedThroughputExceededException',
    message:
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
  },
  serverError: {
    status: 500,
    type: 'InternalServerError',
    message: 'Internal server error',
  },
} as const;

// Connection-level headers describe the hop to the proxy, not the answer being relayed.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

// One draw per request picks at most one fault, so the rates share the unit interval.
function checkedRates(rates: FaultRates): FaultRates {
  const sum = FAULT_KINDS.reduce((total, kind) => total + (rates[kind] ?? 0), 0);
  if (sum > 1) throw new RangeError(`fault rates add up to ${sum}, more than 1`);
  return rates;
}

interface CheckedLatency {
  readonly ms: number;
  readonly jitterMs: number;
  readonly hold: LatencyHold;
}

function checkedLatency(latency: Latency): CheckedLatency {
  const {
    ms,
    jitterMs = 0,
    hold = 'answer',
  }: Exclude<Latency, number> = typeof latency === 'number' ? { ms: latency } : latency;
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency ${ms} ms is not a number >= 0`);
  if (!Number.isFinite(jitterMs) || jitterMs < 0 || jitterMs > ms) {
    throw new RangeError(`latency jitter ${jitterMs} ms is not a number from 0 to ${ms}`);
  }
  return { ms, jitterMs, hold };
}

function operationOf(request: IncomingMessage): string {
  const target = request.headers['x-amz-target'];
  const value = Array.isArray(target) ? target[0] : target;
  return value?.split('.').pop() ?? 'unknown';
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function answerWithAwsError(response: ServerResponse, error: keyof typeof AWS_ERRORS): void {
  const { status, type, message } = AWS_ERRORS[error];
  const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': type,
    'x-amzn-requestid': `fault-proxy-${Date.now()}`,
  });
  response.end(body);
}

/**
 * An HTTP proxy on 127.0.0.1 in front of DynamoDB that injects throttling, server errors,
 * connection resets and timeouts at configurable rates, so the real SDK's retry strategy and
 * error parsing meet them. Decisions come from a PRNG seeded with `seed`: the same seed gives
 * the same sequence of decisions, in the order requests arrive. It can also add latency to
 * every forwarded request (see `Latency`), spoiled answers included; requests a fault stops
 * before DynamoDB are not held.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed);
  let defaultRates: FaultRates = checkedRates(options.rates ?? {});
  const operationRates = new Map<string, FaultRates>();
  // Jitter draws come from a generator of their own, so latency leaves the fault decisions of
  // a seed as they were.
  const jitterRandom = seededRandom(options.seed ^ 0x5bd1e995);
  let defaultLatency = checkedLatency(options.latency ?? 0);
  const operationLatency = new Map<string, CheckedLatency>();
  const holds = new Set<NodeJS.Timeout>();
  const injectedByOperation = new Map<string, FaultCounts>();
  const forwardedByOperation = new Map<string, number>();
  const receivedByOperation = new Map<string, number>();
  const sockets = new Set<Socket>();
  const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 128 });

  const bump = (counts: Map<string, number>, operation: string) =>
    counts.set(operation, (counts.get(operation) ?? 0) + 1);

  function decide(operation: string): FaultKind | undefined {
    const rates = operationRates.get(operation) ?? defaultRates;
    const draw = random();
    let threshold = 0;
    for (const kind of FAULT_KINDS) {
      threshold += rates[kind] ?? 0;
      if (draw < threshold) return kind;
    }
    return undefined;
  }

  /** Where and how long to hold this request: drawn when it arrives, in arrival order. */
  function latencyFor(operation: string): { readonly hold: LatencyHold; readonly ms: number } {
    const { ms, jitterMs, hold } = operationLatency.get(operation) ?? defaultLatency;
    if (jitterMs === 0) return { hold, ms };
    return { hold, ms: ms - jitterMs + 2 * jitterMs * jitterRandom() };
  }

  /** Resolves after `ms`; never, once close() ran (the request's socket is gone by then). */
  function hold(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        holds.delete(timer);
        resolve();
      }, ms);
      holds.add(timer);
    });
  }

  function countInjected(operation: string, kind: FaultKind): void {
    const counts = injectedByOperation.get(operation) ?? zeroCounts();
    counts[kind] += 1;
    injectedByOperation.set(operation, counts);
  }

  function forward(request: IncomingMessage, body: Buffer): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, 'content-length': body.length },
          agent: upstreamAgent,
        },
        (answer) => {
          readBody(answer).then(
            (answerBody) =>
              resolve({
                status: answer.statusCode ?? 502,
                headers: answer.headers,
                body: answerBody,
              }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  function relay(response: ServerResponse, answer: UpstreamAnswer): void {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers['content-length'] = String(answer.body.length);
    response.writeHead(answer.status, headers);
    response.end(answer.body);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const operation = operationOf(request);
    bump(receivedByOperation, operation);
    const body = await readBody(request);
    const fault = decide(operation);
    if (fault !== undefined) countInjected(operation, fault);
    const latency = latencyFor(operation);

    switch (fault) {
      case 'throttle':
        return answerWithAwsError(response, 'throttle');
      case 'serverErrorBefore':
        return answerWithAwsError(response, 'serverError');
      case 'resetBefore':
        request.socket.destroy();
        return;
      case 'timeoutBefore':
        // Never answered: the client's request timeout ends it, or close() does.
        return;
    }

    if (latency.hold === 'request') await hold(latency.ms);
    bump(forwardedByOperation, operation);
    const answer = await forward(request, body);
    if (latency.hold === 'answer') await hold(latency.ms);
    switch (fault) {
      case 'serverErrorAfter':
        return answerWithAwsError(response, 'serverError');
      case 'resetAfter':
        request.socket.destroy();
        return;
      case 'timeoutAfter':
        return;
      default:
        return relay(response, answer);
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      // DynamoDB itself is unreachable: the client sees the connection drop.
      request.socket.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const sumCounts = (operation: string | undefined): FaultCounts => {
    if (operation !== undefined) return { ...(injectedByOperation.get(operation) ?? zeroCounts()) };
    const total = zeroCounts();
    for (const counts of injectedByOperation.values()) {
      for (const kind of FAULT_KINDS) total[kind] += counts[kind];
    }
    return total;
  };
  const sumOf = (counts: Map<string, number>, operation: string | undefined): number =>
    operation !== undefined
      ? (counts.get(operation) ?? 0)
      : [...counts.values()].reduce((a, b) => a + b, 0);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    seed: options.seed,
    setRates(rates) {
      defaultRates = checkedRates(rates);
    },
    setOperationRates(operation, rates) {
      operationRates.set(operation, checkedRates(rates));
    },
    disable() {
      defaultRates = {};
      operationRates.clear();
    },
    setLatency(latency) {
      defaultLatency = checkedLatency(latency);
    },
    setOperationLatency(operation, latency) {
      if (latency === undefined) operationLatency.delete(operation);
      else operationLatency.set(operation, checkedLatency(latency));
    },
    injected: sumCounts,
    forwarded: (operation) => sumOf(forwardedByOperation, operation),
    received: (operation) => sumOf(receivedByOperation, operation),
    close() {
      // Held requests would keep close() waiting for ever.
      for (const timer of holds) clearTimeout(timer);
      holds.clear();
      for (const socket of sockets) socket.destroy();
      upstreamAgent.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Backoff = NonNullable<StandardRetryStrategyOptions['backoff']>;

/** The DynamoDB client's base delay between retries of a transient failure. */
export const DYNAMODB_RETRY_BASE_DELAY_MS = 25;

/**
 * The SDK's own backoff (full jitter, exponential, a larger base after throttling, a 20 s cap)
 * with every delay divided by `speedup`.
 */
export class ScaledBackoff implements Backoff {
  private delayBase: number;

  constructor(private readonly speedup: number) {
    this.delayBase = DYNAMODB_RETRY_BASE_DELAY_MS / speedup;
  }

  setDelayBase(delayBase: number): void {
    this.delayBase = delayBase / this.speedup;
  }

  computeNextBackoffDelay(retries: number): number {
    return Math.floor(
      Math.random() * Math.min(this.delayBase * 2 ** retries, 20_000 / this.speedup),
    );
  }
}

/**
 * The SDK's standard retry strategy (its error classification, attempt limit and retry quota),
 * with backoff delays divided by `speedup`.
 */
export function scaledRetryStrategy(maxAttempts: number, speedup: number): StandardRetryStrategy {
  return new StandardRetryStrategy({
    maxAttempts,
    baseDelay: DYNAMODB_RETRY_BASE_DELAY_MS,
    backoff: new ScaledBackoff(speedup),
  });
}
