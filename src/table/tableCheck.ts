/** The outcome of one check: `warn` marks a problem the adapter works around, `fail` one it cannot. */
export type TableCheckStatus = 'pass' | 'warn' | 'fail';

/** The checks `checkTable` runs, in order. */
export type TableCheckName = 'table exists' | 'key schema' | 'ttl' | 'round trip';

export interface TableCheck {
  name: TableCheckName;
  status: TableCheckStatus;
  /** What was found and, unless it passed, what to change. */
  message: string;
}

/** What `checkTable` found. `ok` is false exactly when a check failed; warnings leave it true. */
export interface TableCheckReport {
  ok: boolean;
  checks: TableCheck[];
}

export const pass = (name: TableCheckName, message: string): TableCheck => ({
  name,
  status: 'pass',
  message,
});

export const warn = (name: TableCheckName, message: string): TableCheck => ({
  name,
  status: 'warn',
  message,
});

export const fail = (name: TableCheckName, message: string): TableCheck => ({
  name,
  status: 'fail',
  message,
});
