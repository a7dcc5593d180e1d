import { AsyncLocalStorage } from 'node:async_hooks';
import type { Fence } from './Fence.js';
import { fenceError } from './fenceErrors.js';

/** A lock acquired inside a fence scope. */
export interface ScopedLock {
  /** Who took it (the adapter instance): two adapters may lock the same cache key. */
  readonly holder: object;
  readonly key: string;
  /** This execution's acquisition, as its holder keeps it. */
  readonly acquisition: object;
  /** Its fence until this execution released or stored it (a lost one's fence says so). */
  fence(): Fence | undefined;
}

/** One scope: the locks acquired in it, in order. */
interface Scope {
  locks: ScopedLock[];
}

// One store per scope, carried by the async context: two requests in flight never share one,
// and nothing names a "current key" outside a scope.
const scopes = new AsyncLocalStorage<Scope>();

/** Called by the adapter when it acquires a lock: the scope it runs in (if any) learns of it. */
export function noteAcquired(lock: ScopedLock): void {
  const scope = scopes.getStore();
  if (scope === undefined) return;
  // A long-lived scope around many executions keeps only the locks still held.
  scope.locks = scope.locks.filter((held) => held.fence() !== undefined);
  scope.locks.push(lock);
}

/**
 * The acquisition of `key` by `holder` that the execution running now made, when it runs in a
 * fence scope: what tells two executions of one key on one instance apart (one may have taken
 * over the other's lapsed lock).
 */
export function acquisitionInScope(holder: object, key: string): object | undefined {
  const locks = scopes.getStore()?.locks;
  if (locks === undefined) return undefined;
  for (let at = locks.length - 1; at >= 0; at -= 1) {
    const lock = locks[at];
    if (lock !== undefined && lock.holder === holder && lock.key === key) return lock.acquisition;
  }
  return undefined;
}

/** Runs `fn` in a fresh fence scope: a lock the adapter acquires inside it gets a fence. */
export function runInFenceScope<T>(fn: () => T): T {
  return scopes.run({ locks: [] }, fn);
}

/**
 * `fn`, each call of which runs in a fresh fence scope: the one-line wrapper around the core's
 * `idempotentHandler(...)` or a function that calls `execute(...)`.
 */
export function withFenceScope<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args) => runInFenceScope(() => fn(...args));
}

/** Express middleware opening a fence scope per request: `app.use()` it before the idempotency middleware. */
export function fenceScopeExpress(): (
  request: unknown,
  response: unknown,
  next: (error?: unknown) => void,
) => void {
  return (_request, _response, next) => runInFenceScope(() => next());
}

/** Koa middleware opening a fence scope per request: `app.use()` it before the idempotency middleware. */
export function fenceScopeKoa(): (
  context: unknown,
  next: () => Promise<unknown>,
) => Promise<unknown> {
  return (_context, next) => runInFenceScope(() => next());
}

const HOW_TO_SCOPE =
  'run the code that calls the idempotency middleware in runInFenceScope(...) or withFenceScope(...), or app.use(fenceScopeExpress()) / app.use(fenceScopeKoa()) before it';

/**
 * The fence of the idempotency lock held in this scope: the handler's way to write "only while
 * this execution still holds its key". With several locks held in one scope, `key` (a cache
 * key, see `fence.key`) says which.
 */
export function currentFence(options: { key?: string } = {}): Fence {
  const scope = scopes.getStore();
  if (scope === undefined) {
    throw fenceError(
      'outside-scope',
      `currentFence() was called outside a fence scope: ${HOW_TO_SCOPE}`,
    );
  }
  const held: Fence[] = [];
  for (const lock of scope.locks) {
    if (options.key !== undefined && lock.key !== options.key) continue;
    const fence = lock.fence();
    if (fence !== undefined) held.push(fence);
  }
  const [only, ...others] = held;
  if (only === undefined) {
    const which = options.key === undefined ? '' : ` for key ${JSON.stringify(options.key)}`;
    throw fenceError(
      'no-lock',
      `currentFence() found no idempotency lock held${which} in this fence scope: call it from the handler, which runs after the lock is acquired and before the record is stored`,
      options.key === undefined ? {} : { key: options.key },
    );
  }
  if (others.length > 0) {
    const keys = held.map((fence) => fence.key);
    throw fenceError(
      'several-locks',
      `currentFence() found ${keys.length} idempotency locks held in this fence scope (${keys.map((key) => JSON.stringify(key)).join(', ')}): pass { key } to choose one`,
      { keys },
    );
  }
  return only;
}
