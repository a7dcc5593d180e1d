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
