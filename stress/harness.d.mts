export interface StressOptions {
  /** Worker processes, each with its own client and adapter. */
  processes: number;
  keys: number;
  /** Duplicate callers per key, spread over the processes. */
  callers: number;
  /** Seed of the handler durations and start jitter; random (and reported) when omitted. */
  seed: number;
  /** The whole run, setup included, fails and kills its workers past this. */
  deadlineMs: number;
  /** Keys each worker has in flight at once. */
  window: number;
  handlerMaxMs: number;
  /** A share of the keys whose handler takes minMs to maxMs (slower than lockTtl, say). */
  slow: { share: number; minMs: number; maxMs: number };
  jitterMs: number;
  lockTtl: number;
  lockTimeout: number;
  lockPollInterval: number;
  /** Extra ElectroDynamoAdapter options of every worker, such as `{ claimOnMiss: true }`. */
  adapterOptions: Record<string, unknown>;
  /** A running DynamoDB (such as DynamoDB Local) instead of an in-process dynalite. */
  endpoint?: string;
}

/** The workers' `adapter.leaseHealth()`, summed (the worst ratio is the largest). */
export interface StressLeaseHealth {
  /** Lease-bearing requests: claims won, renewals, `set`s and releases of held keys. */
  requests: number;
  /** Of those, answered with less than a third of their lease left. */
  atRisk: number;
  /** Leases a holder found lapsed. */
  lapsed: number;
  /** The largest request latency / lease length any worker saw. */
  worstLatencyRatio: number;
}

export interface StressResult {
  seed: number;
  processes: number;
  keys: number;
  callers: number;
  calls: number;
  /** Handler executions recorded in the table (exec# items). */
  executions: number;
  /** Handler invocations the workers counted, duplicates included. */
  handlerRuns: number;
  /** Time spent in handlers, summed over all executions. */
  handlerSeconds: number;
  /** Lease renewals written while handlers ran. */
  renewals: number;
  /** Leases a holder lost (taken over, replaced or lapsed): 0 unless renewal failed. */
  leasesLost: number;
  /** What the workers' lease watches saw. */
  leaseHealth: StressLeaseHealth;
  /** Idempotency items under the adapter's prefix. */
  records: number;
  requests: number;
  /** Handler runs whose conditional exec# write found the key already executed. */
  duplicates: number;
  /** Keys whose callers did not all receive the one recorded execution's response. */
  mismatches: number;
  /** Callers that failed. */
  errors: number;
  /** Failed callers whose error was CONFLICT. */
  conflicts: number;
  /** Callers that lost the claim and waited for the lock. */
  waits: number;
  /** Waiting callers whose response came from another process. */
  crossProcessWaits: number;
  /** Keys with at least one waiting caller. */
  contendedKeys: number;
  /** Callers answered from a stored record without a claim attempt losing. */
  replays: number;
  /** A few failures, for the log. */
  samples: string[];
  /** CPU of the in-process dynalite; undefined on a server given by `endpoint`. */
  serverCpuSeconds: number | undefined;
  workerCpuSeconds: number;
  runSeconds: number;
  elapsedSeconds: number;
}

export declare const STRESS_DEFAULTS: Readonly<Omit<StressOptions, 'seed'>>;

/** Overrides for the phase whose handlers outlive their lock ttl. */
export declare const SLOW_PHASE: Readonly<Partial<StressOptions>>;

export declare function runStress(options?: Partial<StressOptions>): Promise<StressResult>;

export declare function violations(result: StressResult): string[];

/** The fenced phase's stalls (see FENCED_PHASE). */
export interface FencedStalls {
  /** Share of the keys (at least one key) whose first holder stalls past its lease. */
  stallShare: number;
  /** The stalled holder's lease (its core lockTtl); other holders have `lockTtl`. */
  stallLockTtl: number;
  /** How long a stalled holder sleeps, renewal off, before its fenced write; over stallLockTtl. */
  stallMs: number;
  /** Start delay range of the callers that find the stalled holder holding. */
  earlyMs: readonly [number, number];
  /** Start delay range of the callers that come after its lease lapsed. */
  lateMs: readonly [number, number];
}

export interface FencedStressOptions extends StressOptions {
  fenced: FencedStalls;
}

export interface FencedStressResult {
  seed: number;
  processes: number;
  keys: number;
  callers: number;
  /** Keys with a planned stalled holder. */
  stallKeys: number;
  calls: number;
  /** Keys at least one caller got a success answer for. */
  keysCompleted: number;
  /** Order items in the table (one per committed fence). */
  orderItems: number;
  /** Of those, committed by a stalled holder (no caller took its key over before it woke). */
  stalledOrders: number;
  /** Idempotency items under the adapter's prefix. */
  records: number;
  /** Order items beyond the first of their key. */
  duplicates: number;
  /** Keys some caller was answered for, without an order item. */
  completedWithoutOrder: number;
  /** Order items of keys no caller was answered for. */
  ordersWithoutAnswer: number;
  /** Keys whose answered callers got different answers. */
  disagreements: number;
  /** Success answers whose key's one order item or record does not carry that answer. */
  lost: number;
  /** Callers that failed. */
  failed: number;
  /** Failed callers of keys without a stall. */
  plainKeyFailures: number;
  /** Keys without a stall no caller was answered for. */
  plainKeysIncomplete: number;
  /** lease-lost errors (fenceErrorReason) of callers whose handler stalled. */
  leaseLostStalled: number;
  /** lease-lost errors of callers whose handler did not stall: 0 unless renewal failed. */
  leaseLostOther: number;
  /** Other CONFLICT failures (waiters whose wait ended without a record). */
  conflicts: number;
  /** Failures that were not CONFLICT. */
  otherErrors: number;
  /** Handler invocations. */
  handlerRuns: number;
  /** Of those, stalled past the lease. */
  stalledRuns: number;
  renewals: number;
  /** leaseLost diagnostics events the workers saw. */
  leaseLostEvents: number;
  /** The slowest answer of each operation (command name), over every worker, in ms. */
  slowestMs: Record<string, number>;
  leaseHealth: StressLeaseHealth;
  requests: number;
  samples: string[];
  serverCpuSeconds: number | undefined;
  workerCpuSeconds: number;
  runSeconds: number;
  elapsedSeconds: number;
}

/** Overrides for the fenced phase (needs transactions: DynamoDB Local, not dynalite). */
export declare const FENCED_PHASE: Readonly<Partial<FencedStressOptions>> & {
  readonly fenced: Readonly<FencedStalls>;
};

export declare function runFencedStress(
  options?: Partial<Omit<FencedStressOptions, 'fenced'>> & { fenced?: Partial<FencedStalls> },
): Promise<FencedStressResult>;

export declare function fencedViolations(result: FencedStressResult): string[];
