import type { StorageAdapter } from '../../src/types.js';

export interface ExecuteOptions {
  ttl: number;
  lockTimeout: number;
  lockTtl: number;
  lockPollInterval: number;
}

export declare const CORE_DEFAULTS: Readonly<ExecuteOptions>;

export declare class ReferenceConflictError extends Error {
  readonly code: 'CONFLICT';
}

export declare function executeLikeCore<T>(
  adapter: StorageAdapter,
  key: string,
  handler: () => Promise<T>,
  options?: Partial<ExecuteOptions>,
): Promise<T>;
