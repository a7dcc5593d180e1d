import { invalidConfig } from './errors/invalidConfig.js';

/** Defaults of the key and TTL attribute names, shared by the adapter and the table tools. */
export const FIELD_DEFAULTS = { pkField: 'pk', skField: 'sk', ttlField: 'expiresAt' } as const;

/** Attribute names the entities store besides the key fields; a key or TTL field must not reuse them. */
export const RESERVED_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set([
  'cacheKey',
  'response',
  'responseGzip',
  'statusCode',
  'headers',
  'createdAt',
  'ttlMs',
  'validUntil',
  'owner',
  '__edb_e__',
  '__edb_v__',
]);

/** Key and TTL attribute names of an idempotency table; `skField: null` means no sort key. */
export interface TableFields {
  readonly pkField: string;
  readonly skField: string | null;
  readonly ttlField: string;
}

export interface TableFieldOptions {
  pkField?: string;
  skField?: string | null;
  ttlField?: string;
}

export function requireName(caller: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    invalidConfig(caller, `option "${option}" must be a non-empty string`, option);
  }
  return value;
}

/** Applies the adapter's defaults; `skField: null` is kept, since it describes a table without a sort key. */
export function resolveTableFields(caller: string, options: TableFieldOptions): TableFields {
  return {
    pkField: requireName(caller, 'pkField', options.pkField ?? FIELD_DEFAULTS.pkField),
    skField:
      options.skField === null
        ? null
        : requireName(caller, 'skField', options.skField ?? FIELD_DEFAULTS.skField),
    ttlField: requireName(caller, 'ttlField', options.ttlField ?? FIELD_DEFAULTS.ttlField),
  };
}

/** `pk/sk`, or `pk (no sort key)`, as messages show a key. */
export function describeKey(pkField: string, skField: string | null): string {
  return skField === null ? `${pkField} (no sort key)` : `${pkField}/${skField}`;
}

/** Rejects key and TTL names that collide with each other or with what the adapter stores. */
export function validateTableFields(caller: string, fields: TableFields): void {
  const { pkField, skField, ttlField } = fields;
  if (pkField === skField)
    invalidConfig(caller, 'options "pkField" and "skField" must differ', 'skField');
  if (ttlField === pkField || ttlField === skField) {
    invalidConfig(caller, 'option "ttlField" must not be a key attribute', 'ttlField');
  }
  for (const [option, value] of [
    ['pkField', pkField],
    ['skField', skField],
    ['ttlField', ttlField],
  ] as const) {
    if (value !== null && RESERVED_ATTRIBUTE_NAMES.has(value)) {
      invalidConfig(
        caller,
        `option "${option}" (${JSON.stringify(value)}) clashes with an attribute the adapter stores`,
        option,
      );
    }
  }
}
