// A small reference of the core's `IdempotencyMiddleware.execute()` storage sequence, as its
// contract states it: get → acquireLock → get → handler → set → releaseLock, or, for a caller
// that loses the claim, waitForLock → get. Shared by the tests and the demo.

export const CORE_DEFAULTS = Object.freeze({
  ttl: 24 * 60 * 60 * 1000,
  lockTimeout: 30_000,
  lockTtl: 30_000,
  lockPollInterval: 100,
});

const ERROR_MARKER = '@@idempotency/error';

export class ReferenceConflictError extends Error {
  code = 'CONFLICT';
}

function serializeError(error) {
  const err = error instanceof Error ? error : new Error(String(error));
  return { [ERROR_MARKER]: true, name: err.name, message: err.message, stack: err.stack };
}

function replay(record) {
  const response = record.response;
  if (response !== null && typeof response === 'object' && response[ERROR_MARKER] === true) {
    const error = new Error(String(response.message));
    error.name = String(response.name);
    throw error;
  }
  return response;
}

export async function executeLikeCore(adapter, key, handler, options = {}) {
  const { ttl, lockTimeout, lockTtl, lockPollInterval } = { ...CORE_DEFAULTS, ...options };
  const cached = await adapter.get(key);
  if (cached) return replay(cached);

  if (await adapter.acquireLock(key, lockTtl)) {
    try {
      const doubleCheck = await adapter.get(key);
      if (doubleCheck) return replay(doubleCheck);
      let response;
      try {
        response = await handler();
      } catch (error) {
        await adapter
          .set(key, {
            response: serializeError(error),
            createdAt: Date.now(),
            ttl: Math.min(lockTtl, ttl),
          })
          .catch(() => undefined);
        throw error;
      }
      await adapter.set(key, { response, createdAt: Date.now(), ttl });
      return response;
    } finally {
      await adapter.releaseLock(key).catch(() => undefined);
    }
  }

  await adapter.waitForLock(key, lockTimeout, lockPollInterval);
  const record = await adapter.get(key);
  if (!record) throw new ReferenceConflictError('Idempotency-Key In Use');
  return replay(record);
}
