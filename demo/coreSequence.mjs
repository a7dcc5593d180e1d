// The core's storage sequence for one request, as `@reaatech/idempotency-middleware`'s
// `execute()` runs it (get → acquireLock → get → handler → set → releaseLock; a caller that
// loses the claim waits, then replays), small enough to read, so the demo needs no core install.

const ERROR_MARKER = '@@idempotency/error';

function replay(record) {
  const response = record.response;
  if (response !== null && typeof response === 'object' && response[ERROR_MARKER] === true) {
    const error = new Error(String(response.message));
    error.name = String(response.name);
    throw error;
  }
  return response;
}

export async function executeLikeCore(adapter, key, handler, options) {
  const { ttl, lockTimeout, lockTtl, lockPollInterval } = options;
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
        // The core stores the error (for lockTtl at most) and rethrows it.
        const stored = { [ERROR_MARKER]: true, name: error.name, message: error.message };
        await adapter
          .set(key, { response: stored, createdAt: Date.now(), ttl: Math.min(lockTtl, ttl) })
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
  if (!record) throw Object.assign(new Error('Idempotency-Key In Use'), { code: 'CONFLICT' });
  return replay(record);
}
