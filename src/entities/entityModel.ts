import type { ResolvedOptions } from '../options.js';

/** The slice of the adapter's options that shapes the entities. */
export type EntityOptions = Pick<
  ResolvedOptions,
  | 'client'
  | 'table'
  | 'prefix'
  | 'pkField'
  | 'skField'
  | 'separator'
  | 'ttlField'
  | 'service'
  | 'entityNames'
>;

export const ENTITY_VERSION = '1';

/**
 * The primary index both entities share: one item per cache key, so that a lock and the
 * record it leads to occupy the same key. `casing: 'none'` keeps keys that differ only in
 * case apart (ElectroDB lowercases by default).
 */
export function primaryIndex(options: EntityOptions) {
  const pk = {
    field: options.pkField,
    composite: ['cacheKey'],
    template: `${options.prefix}${options.separator}\${cacheKey}`,
    casing: 'none',
  } as const;
  const withSortKey = {
    pk,
    sk: { field: options.skField ?? '', composite: [], template: options.prefix, casing: 'none' },
  } as const;
  if (options.skField !== null) return withSortKey;
  // A table with a partition key only. The sort key carries no composite attribute, so the
  // entity's typed surface is the same either way; only the runtime index differs.
  return { pk } as unknown as typeof withSortKey;
}

/** Attributes both entities carry, under the same names, so one condition covers either. */
export function sharedAttributes(options: EntityOptions) {
  return {
    cacheKey: { type: 'string', required: true, readOnly: true },
    // Epoch milliseconds after which the item no longer counts (record expired or lock lapsed).
    validUntil: { type: 'number', required: true },
    // Epoch seconds for DynamoDB's TTL sweeper, which deletes late and so is never relied on.
    expiresAt: { type: 'number', required: true, field: options.ttlField },
    // Epoch milliseconds before which no claim takes the key: its handler's effects committed
    // through the fence (see `fence/`), so running it again would repeat them.
    markedUntil: { type: 'number' },
  } as const;
}
