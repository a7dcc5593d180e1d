import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type DynamoClient, requireClient } from './clientInput.js';
import { invalidConfig } from './errors/invalidConfig.js';
import {
  FIELD_DEFAULTS,
  requireName,
  resolveTableFields,
  validateTableFields,
} from './tableFields.js';

const CALLER = 'ElectroDynamoAdapter';

/** Options of `new ElectroDynamoAdapter(options)`. */
export interface ElectroDynamoAdapterOptions {
  /** Your client: a `DynamoDBClient` or a `DynamoDBDocumentClient`. */
  client: DynamoDBClient | DynamoDBDocumentClient;
  /** Name of your existing table. */
  table: string;
  /** Literal start of every partition key the adapter writes, e.g. `idem`. */
  prefix: string;
  /** Partition key attribute name of the table. Default `pk`. */
  pkField?: string;
  /** Sort key attribute name of the table, or `null` for a table with a partition key only. Default `sk`. */
  skField?: string | null;
  /** Text between the prefix and the cache key. Default `#`. */
  separator?: string;
  /** Epoch-second attribute for DynamoDB TTL. Default `expiresAt`. */
  ttlField?: string;
  /** ElectroDB service name of the entities; set it to your Service's name to join them to it. Default `idempotency`. */
  service?: string;
  /** ElectroDB entity names. Default `{ record: 'idempotencyRecord', lock: 'idempotencyLock' }`. */
  entityNames?: { record?: string; lock?: string };
  /**
   * Keep up to `maxEntries` completed records in this instance's memory and answer replays of
   * them with no request. Off by default: a `delete` or overwrite made through another
   * instance is not seen here until the record expires.
   */
  localCache?: { maxEntries: number };
  /**
   * Lease renewal of the locks this instance holds: while a handler runs, its lock's lease is
   * extended every third of its ttl, with a write conditioned on the owner token, so a handler
   * slower than `lockTtl` still runs once. It stops at `set`, at `releaseLock`, when the lock
   * is found to be someone else's, and after `maxHoldMs` (default 15 minutes, the Lambda
   * maximum), after which the lease lapses as without renewal. `false` turns renewal off.
   */
  lockRenewal?: false | { maxHoldMs?: number };
  /**
   * Claim-on-miss: `get` of a key with no record writes the lock itself, so a first execution
   * costs 2 requests instead of 3, and a replay becomes a rejected conditional write (1 request
   * where DynamoDB returns the record with the rejection). Off by default. The claim is written
   * with `lockTtlMs`, or, without it, with the lease this instance was last asked for in
   * `acquireLock` (30 s, the core's default, before any): set it to the core's `lockTtl` so even
   * an instance's first execution costs 2. A claim no `acquireLock` confirms lapses like a lock.
   */
  claimOnMiss?: boolean | { lockTtlMs?: number };
  /**
   * How long a key stays marked "effects committed" after a fenced transaction commits
   * (`currentFence()`), in milliseconds: until then no claim takes it, so its handler never runs
   * again, and a response given to the fence is served as the record. Default 24 hours, the
   * core's default `ttl`: set it to your `ttl`.
   */
  markTtlMs?: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  /** The client the entities use (ElectroDB speaks the document client's plain JSON). */
  readonly client: DynamoDBDocumentClient;
  /**
   * The same client for the adapter's own low-level requests. A document client sends
   * low-level commands unchanged (it is a client with the same configuration), so either
   * kind the caller gave serves here.
   */
  readonly lowLevelClient: DynamoDBClient;
  readonly table: string;
  readonly prefix: string;
  readonly pkField: string;
  readonly skField: string | null;
  readonly separator: string;
  readonly ttlField: string;
  readonly service: string;
  readonly entityNames: { readonly record: string; readonly lock: string };
  readonly localCache: { readonly maxEntries: number } | undefined;
  readonly lockRenewal: { readonly maxHoldMs: number } | undefined;
  /** Claim-on-miss on; `lockTtlMs` undefined: learn the lease from `acquireLock`. */
  readonly claimOnMiss: { readonly lockTtlMs: number | undefined } | undefined;
  readonly markTtlMs: number;
}

export const DEFAULTS = {
  ...FIELD_DEFAULTS,
  separator: '#',
  service: 'idempotency',
  entityNames: { record: 'idempotencyRecord', lock: 'idempotencyLock' },
  lockRenewal: { maxHoldMs: 15 * 60 * 1000 },
  markTtlMs: 24 * 60 * 60 * 1000,
} as const;

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'client',
  'table',
  'prefix',
  'pkField',
  'skField',
  'separator',
  'ttlField',
  'service',
  'entityNames',
  'localCache',
  'lockRenewal',
  'claimOnMiss',
  'markTtlMs',
]);

// ElectroDB reads `${name}` in a key template as an attribute reference.
const TEMPLATE_MARKER = '${';

function isDocumentClient(client: object): client is DynamoDBDocumentClient {
  // A document client carries the marshalling options it translates with.
  const config = (client as { config?: { translateConfig?: unknown } }).config;
  return client instanceof DynamoDBDocumentClient || config?.translateConfig !== undefined;
}

function toDocumentClient(client: DynamoClient): DynamoDBDocumentClient {
  if (isDocumentClient(client)) return client;
  return DynamoDBDocumentClient.from(client as DynamoDBClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** Applies defaults and rejects options that would write outside the prefix or clash with our attributes. */
export function resolveOptions(options: ElectroDynamoAdapterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    invalidConfig(CALLER, 'options object is required', 'options');
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) {
      invalidConfig(CALLER, `unknown option "${name}"`, name);
    }
  }
  const client = requireClient(CALLER, options.client);
  const table = requireName(CALLER, 'table', options.table);
  const prefix = requireName(CALLER, 'prefix', options.prefix);
  const separator = requireName(CALLER, 'separator', options.separator ?? DEFAULTS.separator);
  // skField: null is meaningful (no sort key), so only undefined takes the default.
  const { pkField, skField, ttlField } = resolveTableFields(CALLER, options);
  validateTableFields(CALLER, { pkField, skField, ttlField });
  const service = requireName(CALLER, 'service', options.service ?? DEFAULTS.service);
  const entityNames = {
    record: requireName(
      CALLER,
      'entityNames.record',
      options.entityNames?.record ?? DEFAULTS.entityNames.record,
    ),
    lock: requireName(
      CALLER,
      'entityNames.lock',
      options.entityNames?.lock ?? DEFAULTS.entityNames.lock,
    ),
  };
  if (entityNames.record === entityNames.lock) {
    invalidConfig(CALLER, 'entityNames.record and entityNames.lock must differ', 'entityNames');
  }

  for (const [option, value] of [
    ['prefix', prefix],
    ['separator', separator],
  ] as const) {
    if (value.includes(TEMPLATE_MARKER)) {
      invalidConfig(CALLER, `option "${option}" must not contain "${TEMPLATE_MARKER}"`, option);
    }
  }
  if (prefix.includes(separator)) {
    invalidConfig(
      CALLER,
      `option "prefix" (${JSON.stringify(prefix)}) must not contain the separator ${JSON.stringify(separator)}`,
      'prefix',
    );
  }

  const localCache = resolveLocalCache(options.localCache);
  const lockRenewal = resolveLockRenewal(options.lockRenewal);
  const claimOnMiss = resolveClaimOnMiss(options.claimOnMiss);
  const markTtlMs = resolveMarkTtl(options.markTtlMs);

  return {
    client: toDocumentClient(client),
    lowLevelClient: client as DynamoDBClient,
    table,
    prefix,
    pkField,
    skField,
    separator,
    ttlField,
    service,
    entityNames,
    localCache,
    lockRenewal,
    claimOnMiss,
    markTtlMs,
  };
}

function resolveMarkTtl(value: unknown): number {
  if (value === undefined) return DEFAULTS.markTtlMs;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    invalidConfig(
      CALLER,
      `option "markTtlMs" must be a positive number of milliseconds (got ${typeof value === 'string' ? JSON.stringify(value) : String(value)})`,
      'markTtlMs',
    );
  }
  return value;
}

function resolveLocalCache(value: unknown): ResolvedOptions['localCache'] {
  if (value === undefined) return undefined;
  const maxEntries = (value as { maxEntries?: unknown } | null)?.maxEntries;
  if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1) {
    invalidConfig(
      CALLER,
      `option "localCache.maxEntries" must be an integer >= 1 (got ${String(maxEntries)})`,
      'localCache',
    );
  }
  return { maxEntries };
}

function resolveLockRenewal(value: unknown): ResolvedOptions['lockRenewal'] {
  if (value === false) return undefined;
  if (value === undefined) return DEFAULTS.lockRenewal;
  const maxHoldMs = durationField('lockRenewal', 'maxHoldMs', value, 'false or');
  return { maxHoldMs: maxHoldMs ?? DEFAULTS.lockRenewal.maxHoldMs };
}

function resolveClaimOnMiss(value: unknown): ResolvedOptions['claimOnMiss'] {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { lockTtlMs: undefined };
  return { lockTtlMs: durationField('claimOnMiss', 'lockTtlMs', value, 'a boolean or') };
}

/**
 * The one field of an option given as `{ [field]?: milliseconds }`: a positive number, or
 * undefined when left out. `alternative` names what else the option accepts, for the message.
 */
function durationField(
  option: string,
  field: string,
  value: unknown,
  alternative: string,
): number | undefined {
  if (typeof value !== 'object' || value === null) {
    invalidConfig(
      CALLER,
      `option "${option}" must be ${alternative} { ${field}?: number } (got ${String(value)})`,
      option,
    );
  }
  for (const name of Object.keys(value)) {
    if (name !== field) invalidConfig(CALLER, `unknown option "${option}.${name}"`, option);
  }
  const ms = (value as Record<string, unknown>)[field];
  if (ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)) {
    invalidConfig(
      CALLER,
      `option "${option}.${field}" must be a positive number of milliseconds (got ${String(ms)})`,
      option,
    );
  }
  return ms;
}
