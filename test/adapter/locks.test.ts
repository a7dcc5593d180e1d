import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function lockItem(key: string) {
  return (await env.scan()).find((i) => i.pk === `idem#${key}`);
}

/**
 * A holder that has died or stalls renews nothing: its lease lapses as with renewal off. (A
 * live holder's lease is renewed; see leaseRenewal.test.ts.)
 */
const deadHolder = () => env.adapter({ lockRenewal: false });

describe('ElectroDynamoAdapter.acquireLock', () => {
  it('grants the first caller and refuses a second while the lock is live', async () => {
    // Act
    const first = await env.adapter().acquireLock('contended', 60_000);
    const second = await env.adapter().acquireLock('contended', 60_000);

    // Assess
    expect(first).toBe(true);
    expect(second).toBe(false);
  });

  it('writes a fresh owner token, a millisecond expiry and a TTL attribute on each acquisition', async () => {
    // Prepare
    const before = Date.now();

    // Act
    await env.adapter().acquireLock('token-a', 5_000);
    await env.adapter().acquireLock('token-b', 5_000);

    // Assess
    const a = await lockItem('token-a');
    const b = await lockItem('token-b');
    expect(a?.owner).toMatch(/^[0-9a-f-]{36}$/);
    expect(a?.owner).not.toBe(b?.owner);
    expect(a?.validUntil).toBeGreaterThanOrEqual(before + 5_000);
    expect(a?.validUntil).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(a?.expiresAt).toBe(Math.ceil(Number(a?.validUntil) / 1000));
  });

  it('lets another caller take over a lock whose ttl has passed', async () => {
    // Prepare
    expect(await deadHolder().acquireLock('takeover', 100)).toBe(true);
    await sleep(150);

    // Act
    const takenOver = await env.adapter().acquireLock('takeover', 60_000);

    // Assess
    expect(takenOver).toBe(true);
  });

  it('refuses a claim while a live record holds the key', async () => {
    // Prepare
    await env.adapter().set('completed', { response: 'done', createdAt: Date.now(), ttl: 60_000 });

    // Act
    const acquired = await env.adapter().acquireLock('completed', 60_000);

    // Assess
    expect(acquired).toBe(false);
    expect((await env.adapter().get('completed'))?.response).toBe('done');
  });

  it('replaces an expired record with the new lock', async () => {
    // Prepare
    await env.adapter().set('stale', { response: 'old', createdAt: Date.now() - 10_000, ttl: 1 });

    // Act
    const acquired = await env.adapter().acquireLock('stale', 60_000);

    // Assess
    expect(acquired).toBe(true);
    expect((await lockItem('stale'))?.__edb_e__).toBe('idempotencyLock');
  });
});

describe('ElectroDynamoAdapter.releaseLock', () => {
  it('removes its own lock so another caller can acquire', async () => {
    // Prepare
    const holder = env.adapter();
    await holder.acquireLock('release-own', 60_000);

    // Act
    await holder.releaseLock('release-own');

    // Assess
    expect(await lockItem('release-own')).toBeUndefined();
    expect(await env.adapter().acquireLock('release-own', 60_000)).toBe(true);
  });

  it('a stale holder releasing after a takeover leaves the new owner lock in place', async () => {
    // Prepare
    const stale = deadHolder();
    const fresh = env.adapter();
    await stale.acquireLock('stale-release', 100);
    await sleep(150);
    expect(await fresh.acquireLock('stale-release', 60_000)).toBe(true);
    const freshOwner = (await lockItem('stale-release'))?.owner;

    // Act
    await stale.releaseLock('stale-release');

    // Assess
    expect((await lockItem('stale-release'))?.owner).toBe(freshOwner);
    expect(await env.adapter().acquireLock('stale-release', 60_000)).toBe(false);
  });

  it('does nothing for a lock this instance does not hold', async () => {
    // Prepare
    await env.adapter().acquireLock('someone-elses', 60_000);
    env.commands.reset();

    // Act
    await env.adapter().releaseLock('someone-elses');

    // Assess
    expect(env.commands.sent).toEqual([]);
    expect(await env.adapter().acquireLock('someone-elses', 60_000)).toBe(false);
  });

  it('after its own set costs no request and leaves the record', async () => {
    // Prepare
    const holder = env.adapter();
    await holder.acquireLock('set-then-release', 60_000);
    await holder.set('set-then-release', { response: 'r', createdAt: Date.now(), ttl: 60_000 });
    env.commands.reset();

    // Act
    await holder.releaseLock('set-then-release');

    // Assess
    expect(env.commands.sent).toEqual([]);
    expect((await holder.get('set-then-release'))?.response).toBe('r');
  });
});

describe('ElectroDynamoAdapter.waitForLock', () => {
  it('resolves at once when no lock exists', async () => {
    await expect(env.adapter().waitForLock('no-lock', 1_000, 50)).resolves.toBeUndefined();
  });

  it('resolves when the owner releases', async () => {
    // Prepare
    const owner = env.adapter();
    await owner.acquireLock('wait-release', 60_000);
    setTimeout(() => void owner.releaseLock('wait-release'), 200);
    const started = Date.now();

    // Act
    await env.adapter().waitForLock('wait-release', 5_000, 20);

    // Assess
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('resolves when the owner stores its record', async () => {
    // Prepare
    const owner = env.adapter();
    await owner.acquireLock('wait-set', 60_000);
    setTimeout(
      () => void owner.set('wait-set', { response: 'r', createdAt: Date.now(), ttl: 60_000 }),
      150,
    );

    // Act
    await env.adapter().waitForLock('wait-set', 5_000, 20);

    // Assess
    expect((await env.adapter().get('wait-set'))?.response).toBe('r');
  });

  it('resolves when the lock lapses without a release', async () => {
    // Prepare
    await deadHolder().acquireLock('wait-lapse', 200);

    // Act / Assess
    await expect(env.adapter().waitForLock('wait-lapse', 5_000, 20)).resolves.toBeUndefined();
  });

  it('rejects with IdempotencyError LOCK_TIMEOUT when the lock outlives the timeout', async () => {
    // Prepare
    await env.adapter().acquireLock('wait-timeout', 60_000);
    const started = Date.now();

    // Act
    const error = await env
      .adapter()
      .waitForLock('wait-timeout', 200, 30)
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    // Assess
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({
      name: 'IdempotencyError',
      code: 'LOCK_TIMEOUT',
      message: 'Lock wait timeout exceeded',
    });
    expect((error as IdempotencyError).isRecoverable()).toBe(true);
    expect((error as IdempotencyError).getStatusCode()).toBe(409);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('ElectroDynamoAdapter on one instance holding a key twice', () => {
  it('the lapsed acquisition releasing first leaves the takeover lock in place', async () => {
    // Prepare
    const instance = deadHolder();
    expect(await instance.acquireLock('same-instance', 100)).toBe(true);
    await sleep(150);
    expect(await instance.acquireLock('same-instance', 60_000)).toBe(true);

    // Act: the stale execution finishes (its set failed) and releases
    await instance.releaseLock('same-instance');

    // Assess
    expect(await env.adapter().acquireLock('same-instance', 60_000)).toBe(false);
    await instance.releaseLock('same-instance');
    expect(await env.adapter().acquireLock('same-instance', 60_000)).toBe(true);
  });
});

describe('ElectroDynamoAdapter claim receipt (the double check answered by the claim)', () => {
  it('answers only the first get after a claim without a request', async () => {
    // Prepare
    const holder = env.adapter();
    await holder.acquireLock('receipt-once', 60_000);
    await env
      .adapter()
      .set('receipt-once', { response: 'other', createdAt: Date.now(), ttl: 60_000 });
    env.commands.reset();

    // Act
    const first = await holder.get('receipt-once');
    const second = await holder.get('receipt-once');

    // Assess
    expect(first).toBeNull();
    expect(second?.response).toBe('other');
    expect(env.commands.sent.map((c) => c.name)).toEqual(['GetItemCommand']);
  });

  it('is ignored once the lock has lapsed', async () => {
    // Prepare
    const holder = env.adapter();
    await holder.acquireLock('receipt-lapsed', 50);
    await sleep(100);
    await env
      .adapter()
      .set('receipt-lapsed', { response: 'late', createdAt: Date.now(), ttl: 60_000 });

    // Act
    const record = await holder.get('receipt-lapsed');

    // Assess
    expect(record?.response).toBe('late');
  });
});

describe('ElectroDynamoAdapter expiry boundary', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a record counts until now > createdAt + ttl, for reads and claims alike', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    const createdAt = Date.now();
    const adapter = env.adapter();
    await adapter.set('boundary', { response: 'b', createdAt, ttl: 1_000 });

    // Act
    vi.setSystemTime(createdAt + 1_000);
    const atBoundary = await adapter.get('boundary');
    const claimAtBoundary = await env.adapter().acquireLock('boundary', 60_000);
    vi.setSystemTime(createdAt + 1_001);
    const pastBoundary = await adapter.get('boundary');
    const claimPastBoundary = await env.adapter().acquireLock('boundary', 60_000);

    // Assess
    expect(atBoundary?.response).toBe('b');
    expect(claimAtBoundary).toBe(false);
    expect(pastBoundary).toBeNull();
    expect(claimPastBoundary).toBe(true);
  });
});
