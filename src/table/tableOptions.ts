import { createError } from '../errors/createError.js';
import { IdempotencyErrorCode } from '../errors/IdempotencyErrorCode.js';
import { DEFAULTS } from '../options.js';

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
    throw createError(
      IdempotencyErrorCode.INVALID_CONFIG,
      `${caller}: option "${option}" must be a non-empty string`,
      { context: { option } },
    );
  }
  return value;
}

/** Applies the adapter's defaults; `skField: null` is kept, since it describes a table without a sort key. */
export function resolveTableFields(caller: string, options: TableFieldOptions): TableFields {
  return {
    pkField: requireName(caller, 'pkField', options.pkField ?? DEFAULTS.pkField),
    skField:
      options.skField === null
        ? null
        : requireName(caller, 'skField', options.skField ?? DEFAULTS.skField),
    ttlField: requireName(caller, 'ttlField', options.ttlField ?? DEFAULTS.ttlField),
  };
}

/** `pk/sk`, or `pk (no sort key)`, as messages show a key. */
export function describeKey(pkField: string, skField: string | null): string {
  return skField === null ? `${pkField} (no sort key)` : `${pkField}/${skField}`;
}
