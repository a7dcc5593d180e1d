import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_CHANNELS } from '../../src/events/channels.js';
import { sleep } from '../support/async.js';
import { createClient } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import { failCommands, loseNextResponse, transientError } from '../support/faults.js';
import { isClaim } from '../support/requestKinds.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
beforeEach(() => env.commands.reset());

describe('IDEMPOTENCY_CHANNELS', () => {
  it('names one diagnostics channel per event under the package prefix', () => {
    expect(IDEMPOTENCY_CHANNELS).toEqual({
      lockTakeover: 'electrodb-idempotency:lock:takeover',
      leaseRenewed: 'electrodb-idempotency:lease:renewed',
      leaseLost: 'electrodb-idempotency:lease:lost',
      leaseAtRisk: 'electrodb-idempotency:lease:at-risk',
      holdCapReached: 'electrodb-idempotency:lease:hold-cap-reached',
      responseCompressed: 'electrodb-idempotency:response:compressed',
      ambiguousWriteResolved: 'electrodb-idempotency:write:ambiguous-resolved',
      storageError: 'electrodb-idempotency:storage-error',
    });
  });
});

describe('ElectroDynamoAdapter events', () => {
  it('publishes a takeover of a lapsed lock with how long it had lapsed', async () => {
    // Prepare
    const takeovers = recordEvents('lockTakeover');
    await env.adapter({ lockRenewal: false }).acquireLock('takeover', 100);
    await sleep(150);

    // Act
    const acquired = await env.adapter().acquireLock('takeover', 60_000);
    takeovers.stop();

    // Assess
    expect(acquired).toBe(true);
    const [event] = takeovers.forKey('takeover');
    expect(takeovers.forKey('takeover')).toHaveLength(1);
    expect(event).toEqual({ table: env.table, key: 'takeover', lapsedMs: expect.any(Number) });
    expect(event?.lapsedMs).toBeGreaterThanOrEqual(40);
    expect(event?.lapsedMs).toBeLessThan(5_000);
  });

  it('publishes no takeover for a fresh key or an expired record, and asks for the replaced item only while watched', async () => {
    // Prepare
    const takeovers = recordEvents('lockTakeover');
    await env.adapter().set('expired', { response: 1, createdAt: Date.now() - 10_000, ttl: 1 });

    // Act
    await env.adapter().acquireLock('fresh', 60_000);
    await env.adapter().acquireLock('expired', 60_000);
    takeovers.stop();
    await env.adapter().acquireLock('unwatched', 60_000);

    // Assess
    expect(takeovers.events.filter((e) => ['fresh', 'expired'].includes(e.key))).toEqual([]);
    const claims = env.commands.sent.filter(({ name, input }) => isClaim(name, input));
    expect(claims.map(({ input }) => input.ReturnValues)).toEqual([
      'ALL_OLD',
      'ALL_OLD',
      undefined,
    ]);
  });

  it('publishes a compressed response with both item sizes', async () => {
    // Prepare
    const compressed = recordEvents('responseCompressed');
    const response = { text: 'a'.repeat(600_000) };

    // Act
    await env.adapter().set('large', { response, createdAt: Date.now(), ttl: 60_000 });
    await env.adapter().set('small', { response: 'small', createdAt: Date.now(), ttl: 60_000 });
    compressed.stop();

    // Assess
    expect(compressed.events.filter((e) => ['large', 'small'].includes(e.key))).toEqual([
      {
        table: env.table,
        key: 'large',
        bytes: expect.any(Number),
        compressedBytes: expect.any(Number),
      },
    ]);
    const [event] = compressed.events;
    expect(event?.bytes).toBeGreaterThan(600_000);
    expect(event?.compressedBytes).toBeLessThan(409_600);
  });

  it('publishes an ambiguous claim resolved as acquired, and a retried release that found its lock gone', async () => {
    // Prepare
    const resolved = recordEvents('ambiguousWriteResolved');
    const client = env.client;
    const adapter = env.adapter();
    loseNextResponse(client, isClaim);

    // Act
    expect(await adapter.acquireLock('ambiguous', 60_000)).toBe(true);
    loseNextResponse(client, (name) => name === 'DeleteItemCommand');
    await adapter.releaseLock('ambiguous');
    resolved.stop();

    // Assess
    expect(resolved.forKey('ambiguous')).toEqual([
      {
        table: env.table,
        key: 'ambiguous',
        operation: 'acquireLock',
        attempts: 2,
        outcome: 'acquired',
      },
      {
        table: env.table,
        key: 'ambiguous',
        operation: 'releaseLock',
        attempts: 2,
        outcome: 'already-released',
      },
    ]);
  });

  it('publishes a storage error with operation, key, table, attempts and duration', async () => {
    // Prepare
    const errors = recordEvents('storageError');
    const failing = failCommands(env.client, (name) => name === 'GetItemCommand', {
      name: 'AccessDeniedException',
      message: 'not allowed',
    });
    const started = Date.now();

    // Act
    const rejection = await env
      .adapter()
      .get('denied')
      .catch((error: unknown) => error);
    failing.enabled = false;
    errors.stop();

    // Assess
    expect(rejection).toMatchObject({ code: 'STORAGE_ERROR' });
    const [event] = errors.forKey('denied');
    expect(errors.forKey('denied')).toHaveLength(1);
    expect(event).toEqual({
      table: env.table,
      key: 'denied',
      operation: 'get',
      attempts: 0,
      durationMs: expect.any(Number),
      error: rejection,
    });
    expect(event?.durationMs).toBeLessThanOrEqual(Date.now() - started);
    expect(event?.error.cause).toMatchObject({ name: 'AccessDeniedException' });
  });

  it('counts the attempts the SDK made on a request it retried until it gave up', async () => {
    // Prepare: every answer to a read is lost, on a client that tries twice
    const errors = recordEvents('storageError');
    const client = createClient(env.endpoint, { maxAttempts: 2 });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (context.commandName === 'GetItemCommand') throw transientError();
        return output;
      },
      { step: 'deserialize', name: 'loseEveryRead', priority: 'high' },
    );
    const adapter = env.adapter({ client });

    // Act
    const rejection = await adapter.get('lost-reads').catch((error: unknown) => error);
    errors.stop();
    client.destroy();

    // Assess
    expect(errors.forKey('lost-reads')).toEqual([
      {
        table: env.table,
        key: 'lost-reads',
        operation: 'get',
        attempts: 2,
        durationMs: expect.any(Number),
        error: rejection,
      },
    ]);
  });

  it('publishes nothing for bad input, which is not a storage error', async () => {
    // Prepare
    const errors = recordEvents('storageError');

    // Act
    await env
      .adapter()
      .get('')
      .catch(() => undefined);
    errors.stop();

    // Assess
    expect(errors.events).toEqual([]);
  });
});
