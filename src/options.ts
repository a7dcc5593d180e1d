import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createError } from './errors/createError.js';
import { IdempotencyErrorCode } from './errors/IdempotencyErrorCode.js';

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
  /** Sort key attribute name of the table. Default `sk`. */
  skField?: string;
  /** Text between the prefix and the cache key. Default `#`. */
  separator?: string;
  /** Epoch-second attribute for DynamoDB TTL. Default `expiresAt`. */
  ttlField?: string;
  /** ElectroDB service name of the entities. Default `idempotency`. */
  service?: string;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly client: DynamoDBDocumentClient;
  readonly table: string;
  readonly prefix: string;
  readonly pkField: string;
  readonly skField: string;
  readonly separator: string;
  readonly ttlField: string;
  readonly service: string;
}

export const DEFAULTS = {
  pkField: 'pk',
  skField: 'sk',
  separator: '#',
  ttlField: 'expiresAt',
  service: 'idempotency',
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
]);

/** Attribute names the entities store besides the key fields; a key or TTL field must not reuse them. */
export const RESERVED_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set([
  'cacheKey',
  'response',
  'statusCode',
  'headers',
  'createdAt',
  'ttlMs',
  'validUntil',
  'owner',
  '__edb_e__',
  '__edb_v__',
]);

// ElectroDB reads `${name}` in a key template as an attribute reference.
const TEMPLATE_MARKER = '${';

function invalid(message: string, option: string): never {
  throw createError(IdempotencyErrorCode.INVALID_CONFIG, message, { context: { option } });
}

function requireText(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    invalid(`ElectroDynamoAdapter: option "${option}" must be a non-empty string`, option);
  }
  return value;
}

function isDocumentClient(client: object): client is DynamoDBDocumentClient {
  // A document client carries the marshalling options it translates with.
  const config = (client as { config?: { translateConfig?: unknown } }).config;
  return client instanceof DynamoDBDocumentClient || config?.translateConfig !== undefined;
}

function toDocumentClient(client: unknown): DynamoDBDocumentClient {
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as { send?: unknown }).send !== 'function'
  ) {
    invalid(
      'ElectroDynamoAdapter: option "client" must be a DynamoDBClient or DynamoDBDocumentClient',
      'client',
    );
  }
  if (isDocumentClient(client)) return client;
  return DynamoDBDocumentClient.from(client as DynamoDBClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** Applies defaults and rejects options that would write outside the prefix or clash with our attributes. */
export function resolveOptions(options: ElectroDynamoAdapterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    invalid('ElectroDynamoAdapter: options object is required', 'options');
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) {
      invalid(`ElectroDynamoAdapter: unknown option "${name}"`, name);
    }
  }
  const table = requireText(options.table, 'table');
  const prefix = requireText(options.prefix, 'prefix');
  const separator = requireText(options.separator ?? DEFAULTS.separator, 'separator');
  const pkField = requireText(options.pkField ?? DEFAULTS.pkField, 'pkField');
  const skField = requireText(options.skField ?? DEFAULTS.skField, 'skField');
  const ttlField = requireText(options.ttlField ?? DEFAULTS.ttlField, 'ttlField');
  const service = requireText(options.service ?? DEFAULTS.service, 'service');

  for (const [option, value] of [
    ['prefix', prefix],
    ['separator', separator],
  ] as const) {
    if (value.includes(TEMPLATE_MARKER)) {
      invalid(
        `ElectroDynamoAdapter: option "${option}" must not contain "${TEMPLATE_MARKER}"`,
        option,
      );
    }
  }
  if (prefix.includes(separator)) {
    invalid(
      `ElectroDynamoAdapter: option "prefix" (${JSON.stringify(prefix)}) must not contain the separator ${JSON.stringify(separator)}`,
      'prefix',
    );
  }
  if (pkField === skField) {
    invalid('ElectroDynamoAdapter: options "pkField" and "skField" must differ', 'skField');
  }
  for (const [option, value] of [
    ['pkField', pkField],
    ['skField', skField],
    ['ttlField', ttlField],
  ] as const) {
    if (RESERVED_ATTRIBUTE_NAMES.has(value)) {
      invalid(
        `ElectroDynamoAdapter: option "${option}" (${JSON.stringify(value)}) clashes with an attribute the adapter stores`,
        option,
      );
    }
  }
  if (ttlField === pkField || ttlField === skField) {
    invalid('ElectroDynamoAdapter: option "ttlField" must not be a key attribute', 'ttlField');
  }

  return {
    client: toDocumentClient(options.client),
    table,
    prefix,
    pkField,
    skField,
    separator,
    ttlField,
    service,
  };
}
