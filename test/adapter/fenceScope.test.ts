import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentFence,
  fenceErrorReason,
  fenceScopeExpress,
  fenceScopeKoa,
  runInFenceScope,
  withFenceScope,
} from '../../src/index.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { settle, sleep } from '../support/async.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 60_000 });

/** What currentFence threw, or undefined when it returned a fence. */
function fenceFailure(options?: { key?: string }): unknown {
  try {
    currentFence(options);
    return undefined;
  } catch (error) {
    return error;
  }
}

/** The error currentFence throws for `reason`: the package's IdempotencyError, INVALID_CONFIG. */
function expectRefusal(error: unknown, reason: string) {
  expect(error).toMatchObject({
    name: 'IdempotencyError',
    code: 'INVALID_CONFIG',
    context: expect.objectContaining({ reason }),
  });
  expect(fenceErrorReason(error)).toBe(reason);
}

describe('currentFence: where a fence is found', () => {
  it('outside any scope throws INVALID_CONFIG with reason outside-scope', async () => {
    // Prepare: a lock held, but acquired and asked for outside any scope
    expect(await env.adapter().acquireLock('outside', 60_000)).toBe(true);

    // Act
    const error = fenceFailure();

    // Assess
    expectRefusal(error, 'outside-scope');
    expect((error as { getStatusCode(): number }).getStatusCode()).toBe(500);
  });

  it('in a scope before acquireLock throws no-lock', async () => {
    // Act
    const error = await runInFenceScope(async () => {
      await env.adapter().get('before-acquire');
      return fenceFailure();
    });

    // Assess
    expectRefusal(error, 'no-lock');
  });

  it('in a scope whose acquireLock lost the key throws no-lock', async () => {
    // Prepare
    expect(await env.adapter().acquireLock('lost-claim', 60_000)).toBe(true);

    // Act
    const { acquired, error } = await runInFenceScope(async () => ({
      acquired: await env.adapter().acquireLock('lost-claim', 60_000),
      error: fenceFailure(),
    }));

    // Assess
    expect(acquired).toBe(false);
    expectRefusal(error, 'no-lock');
  });

  it('after acquireLock returns the fence of that key, on the adapter table', async () => {
    // Act
    const fence = await runInFenceScope(async () => {
      await env.adapter().acquireLock('held', 60_000);
      return currentFence();
    });

    // Assess
    expect(fence.key).toBe('held');
    expect(fence.table).toBe(env.table);
  });

  it('after the holder stores its record throws no-lock', async () => {
    // Act
    const error = await runInFenceScope(async () => {
      const adapter = env.adapter();
      await adapter.acquireLock('stored', 60_000);
      expect(currentFence().key).toBe('stored');
      await adapter.set('stored', record('done'));
      return fenceFailure();
    });

    // Assess
    expectRefusal(error, 'no-lock');
  });

  it('after releaseLock throws no-lock', async () => {
    // Act
    const error = await runInFenceScope(async () => {
      const adapter = env.adapter();
      await adapter.acquireLock('released', 60_000);
      expect(currentFence().key).toBe('released');
      await adapter.releaseLock('released');
      return fenceFailure();
    });

    // Assess
    expectRefusal(error, 'no-lock');
  });

  it('a lock acquired outside any scope is not seen by a scope opened later', async () => {
    // Prepare
    const adapter = env.adapter();
    expect(await adapter.acquireLock('acquired-before-scope', 60_000)).toBe(true);

    // Act
    const error = runInFenceScope(() => fenceFailure());

    // Assess
    expectRefusal(error, 'no-lock');
  });

  it('two keys acquired in one scope: currentFence() throws several-locks naming both, { key } picks one', async () => {
    // Act
    const { error, first, second } = await runInFenceScope(async () => {
      const adapter = env.adapter();
      await adapter.acquireLock('pair-a', 60_000);
      await adapter.acquireLock('pair-b', 60_000);
      return {
        error: fenceFailure(),
        first: currentFence({ key: 'pair-a' }),
        second: currentFence({ key: 'pair-b' }),
      };
    });

    // Assess
    expectRefusal(error, 'several-locks');
    expect((error as Error).message).toContain('pair-a');
    expect((error as Error).message).toContain('pair-b');
    expect(first.key).toBe('pair-a');
    expect(second.key).toBe('pair-b');
  });

  it('currentFence({ key }) for a key the scope does not hold throws no-lock', async () => {
    // Act
    const error = await runInFenceScope(async () => {
      await env.adapter().acquireLock('held-one', 60_000);
      return fenceFailure({ key: 'not-held' });
    });

    // Assess
    expectRefusal(error, 'no-lock');
  });

  it('with one of two keys released, currentFence() returns the other', async () => {
    // Act
    const fence = await runInFenceScope(async () => {
      const adapter = env.adapter();
      await adapter.acquireLock('kept', 60_000);
      await adapter.acquireLock('let-go', 60_000);
      await adapter.releaseLock('let-go');
      return currentFence();
    });

    // Assess
    expect(fence.key).toBe('kept');
  });
});

describe('fence scopes: one per request', () => {
  it('concurrent scopes on one adapter each see only their own lock', async () => {
    // Prepare: both acquire before either asks, so a shared scope would hold two locks
    const adapter = env.adapter();
    const request = (key: string, pause: number) =>
      runInFenceScope(async () => {
        await adapter.acquireLock(key, 60_000);
        await sleep(pause);
        const fence = currentFence();
        await sleep(pause);
        return [fence.key, currentFence().key];
      });

    // Act
    const [first, second] = await Promise.all([
      request('concurrent-a', 40),
      request('concurrent-b', 10),
    ]);

    // Assess
    expect(first).toEqual(['concurrent-a', 'concurrent-a']);
    expect(second).toEqual(['concurrent-b', 'concurrent-b']);
  });

  it('runInFenceScope returns what fn returns', async () => {
    // Act
    const plain = runInFenceScope(() => 42);
    const awaited = await runInFenceScope(async () => 'async');

    // Assess
    expect(plain).toBe(42);
    expect(awaited).toBe('async');
  });

  it('withFenceScope passes arguments and result through and gives each call a fresh scope', async () => {
    // Prepare
    const adapter = env.adapter();
    const handle = withFenceScope(async (key: string, acquire: boolean) => {
      if (acquire) await adapter.acquireLock(key, 60_000);
      const error = fenceFailure();
      return error === undefined ? `fence:${currentFence().key}` : fenceErrorReason(error);
    });

    // Act
    const first = await handle('wrapped', true);
    const second = await handle('wrapped-later', false);

    // Assess
    expect(first).toBe('fence:wrapped');
    expect(second).toBe('no-lock');
  });
});

describe.each(ADAPTER_MODES)(
  'fence scope around the core call sequence ($mode)',
  ({ mode, options }) => {
    it('the handler sees the fence of its key; after the flow the scope holds none', async () => {
      // Prepare
      const adapter = env.adapter(options);
      const key = `core-${mode}`;

      // Act
      const { seen, afterFlow } = await runInFenceScope(async () => {
        const seen = await executeLikeCore(adapter, key, async () => {
          const fence = currentFence();
          return { key: fence.key, table: fence.table };
        });
        return { seen, afterFlow: fenceFailure() };
      });

      // Assess
      expect(seen).toEqual({ key, table: env.table });
      expectRefusal(afterFlow, 'no-lock');
    });
  },
);

describe('fence scope middleware', () => {
  it('fenceScopeExpress: code run inside next sees the lock acquired there; next gets no error', async () => {
    // Prepare
    const middleware = fenceScopeExpress();
    const adapter = env.adapter();
    const nextArgs: unknown[][] = [];

    // Act: next starts the downstream work and returns, as Express's next does
    const seen = await new Promise<string>((resolve, reject) => {
      middleware({ method: 'POST' }, {}, (...args: unknown[]) => {
        nextArgs.push(args);
        void (async () => {
          await adapter.acquireLock('express', 60_000);
          await sleep(5);
          return currentFence().key;
        })().then(resolve, reject);
      });
    });

    // Assess
    expect(seen).toBe('express');
    expect(nextArgs).toEqual([[]]);
  });

  it('fenceScopeExpress: each request gets a fresh scope', async () => {
    // Prepare
    const middleware = fenceScopeExpress();
    const adapter = env.adapter();
    const request = (work: () => Promise<unknown>) =>
      new Promise<unknown>((resolve, reject) => {
        middleware({}, {}, () => {
          work().then(resolve, reject);
        });
      });

    // Act
    await request(() => adapter.acquireLock('express-first', 60_000));
    const second = await request(async () => fenceFailure());

    // Assess
    expectRefusal(second, 'no-lock');
  });

  it('fenceScopeKoa: code awaited in next sees the lock acquired there; resolves after next', async () => {
    // Prepare
    const middleware = fenceScopeKoa();
    const adapter = env.adapter();
    let seen: string | undefined;
    let nextEnded = false;

    // Act
    await middleware({ request: {} }, async () => {
      await adapter.acquireLock('koa', 60_000);
      await sleep(5);
      seen = currentFence().key;
      nextEnded = true;
    });

    // Assess
    expect(seen).toBe('koa');
    expect(nextEnded).toBe(true);
  });

  it('fenceScopeKoa: an error from next rejects the middleware unchanged', async () => {
    // Prepare
    const middleware = fenceScopeKoa();
    const failure = new Error('downstream failed');

    // Act
    const error = await settle(
      middleware({}, async () => {
        throw failure;
      }),
    );

    // Assess
    expect(error).toBe(failure);
  });
});
