import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../support/async.js';
import { recordEvents } from '../support/channelEvents.js';
import { executeLikeCore } from '../support/coreReference.mjs';
import { failCommands } from '../support/faults.js';
import { recordCommands } from '../support/requestCounter.js';
import { isClaim, isRenewal } from '../support/requestKinds.js';
import { slowAnswers } from '../support/slowCommands.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const atRisk = recordEvents('leaseAtRisk');
afterAll(() => atRisk.stop());

const isDelete = (name: string) => name === 'DeleteItemCommand';

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 3_600_000 });

describe('ElectroDynamoAdapter.leaseHealth and the leaseAtRisk event', () => {
  it('publishes a claim answered with under a third of its lease left', async () => {
    // Prepare: the claim's answer comes 250 ms late against a 600 ms lease
    const { client, adapter } = env.isolatedAdapter({ lockRenewal: false });
    slowAnswers(client, isClaim, 450);

    // Act
    const acquired = await adapter.acquireLock('slow-claim', 600);

    // Assess
    expect(acquired).toBe(true);
    const [event] = atRisk.forKey('slow-claim');
    expect(atRisk.forKey('slow-claim')).toHaveLength(1);
    expect(event).toEqual({
      table: env.table,
      key: 'slow-claim',
      request: 'claim',
      latencyMs: expect.any(Number),
      leaseMs: 600,
      leftMs: expect.any(Number),
      lapsed: false,
    });
    expect(event?.latencyMs).toBeGreaterThanOrEqual(450);
    expect(event?.leftMs).toBe(600 - Number(event?.latencyMs));
    expect(adapter.leaseHealth()).toEqual({
      requests: 1,
      atRisk: 1,
      lapsed: 0,
      worstLatencyRatio: Number(event?.latencyMs) / 600,
    });
  });

  it('says nothing of requests answered with most of their lease left, and still counts them', async () => {
    // Prepare
    const adapter = env.adapter({ lockRenewal: false });

    // Act: a first execution through the core's sequence, with a long lease
    await executeLikeCore(adapter, 'quick-flow', async () => 'done', { lockTtl: 30_000 });

    // Assess: the claim and the set were watched; neither was at risk
    expect(atRisk.forKey('quick-flow')).toEqual([]);
    const health = adapter.leaseHealth();
    expect(health).toMatchObject({ requests: 2, atRisk: 0, lapsed: 0 });
    expect(health.worstLatencyRatio).toBeGreaterThan(0);
    expect(health.worstLatencyRatio).toBeLessThan(1 / 3);
  });

  it('counts a set that lands after its lease lapsed as a lapsed lease, once, and publishes it', async () => {
    // Prepare: a fixed 300 ms lease, a handler slower than it
    const adapter = env.adapter({ lockRenewal: false });
    expect(await adapter.acquireLock('late-set', 300)).toBe(true);
    await sleep(350);

    // Act
    await adapter.set('late-set', record('late'));
    await adapter.releaseLock('late-set');

    // Assess
    const events = atRisk.forKey('late-set');
    expect(events.map(({ request, lapsed }) => ({ request, lapsed }))).toEqual([
      { request: 'set', lapsed: true },
    ]);
    expect(events[0]?.leftMs).toBeLessThan(0);
    expect(adapter.leaseHealth()).toMatchObject({ requests: 2, atRisk: 1, lapsed: 1 });
  });

  it('publishes a renewal answered late, measured against the lease it extends', async () => {
    // Prepare: renewals (every 200 ms of a 600 ms lease) are answered 330 ms late
    const { client, adapter } = env.isolatedAdapter();
    const slow = slowAnswers(client, isRenewal, 330);

    // Act
    expect(await adapter.acquireLock('slow-renewal', 600)).toBe(true);
    await sleep(700);
    slow.enabled = false;
    await adapter.releaseLock('slow-renewal');

    // Assess: under a third (200 ms) of the old lease was left when the answer came
    const renewals = atRisk.forKey('slow-renewal').filter(({ request }) => request === 'renewal');
    expect(renewals.length).toBeGreaterThanOrEqual(1);
    for (const event of renewals) {
      expect(event.latencyMs).toBeGreaterThanOrEqual(330);
      expect(event.leftMs).toBeLessThan(200);
    }
    expect(adapter.leaseHealth().atRisk).toBeGreaterThanOrEqual(renewals.length);
  });

  it('publishes a release answered after the lease lapsed', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter({ lockRenewal: false });
    slowAnswers(client, (name) => isDelete(name), 400);
    expect(await adapter.acquireLock('slow-release', 300)).toBe(true);

    // Act
    await adapter.releaseLock('slow-release');

    // Assess
    expect(atRisk.forKey('slow-release')).toEqual([
      expect.objectContaining({ request: 'release', leaseMs: 300, lapsed: true }),
    ]);
    expect(adapter.leaseHealth()).toMatchObject({ atRisk: 1, lapsed: 1 });
  });

  it('publishes the claim a claim-on-miss get makes when it is answered late', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter({
      claimOnMiss: { lockTtlMs: 600 },
      lockRenewal: false,
    });
    slowAnswers(client, isClaim, 450);

    // Act
    expect(await adapter.get('slow-get-claim')).toBeNull();
    expect(await adapter.acquireLock('slow-get-claim', 600)).toBe(true);

    // Assess: the get's claim, then acquireLock's rewrite of its lease (under a third was left,
    // so the claim's lease is written again from now), judged against the claim's lease
    expect(atRisk.forKey('slow-get-claim')).toEqual([
      expect.objectContaining({ request: 'claim', leaseMs: 600, lapsed: false }),
      expect.objectContaining({ request: 'claim', leaseMs: 600, lapsed: false }),
    ]);
    await adapter.releaseLock('slow-get-claim');
  });

  it('counts a lease that lapsed while every renewal failed', async () => {
    // Prepare: renewals fail outright
    const { client, adapter } = env.isolatedAdapter();
    failCommands(client, isRenewal);

    // Act
    expect(await adapter.acquireLock('failing-renewals', 600)).toBe(true);
    await sleep(900);

    // Assess
    expect(adapter.leaseHealth().lapsed).toBe(1);
    await adapter.releaseLock('failing-renewals');
  });
});

describe('ElectroDynamoAdapter lease watch: what it does not judge', () => {
  it('regression: a renewal answered after its lock was released is neither counted nor published', async () => {
    // Prepare: the first renewal (at 100 ms of a 300 ms lease) is answered 400 ms late
    const { client, adapter } = env.isolatedAdapter();
    slowAnswers(client, isRenewal, 400);
    expect(await adapter.acquireLock('released-while-renewing', 300)).toBe(true);
    await sleep(150);

    // Act: released while the renewal is in flight; its answer comes after the lease's end
    await adapter.releaseLock('released-while-renewing');
    await sleep(450);

    // Assess: the claim and the release were judged; the renewal's late answer was not
    expect(atRisk.forKey('released-while-renewing')).toEqual([]);
    expect(adapter.leaseHealth()).toMatchObject({ requests: 2, atRisk: 0, lapsed: 0 });
  });

  it('regression: a set refused before any request (too large) is not judged', async () => {
    // Prepare: a held key, and a response that stays over 400 KB compressed
    const adapter = env.adapter({ lockRenewal: false });
    expect(await adapter.acquireLock('too-large-held', 300)).toBe(true);
    await sleep(350);
    const incompressible = randomBytes(450 * 1024).toString('base64');

    // Act
    const error = await adapter.set('too-large-held', record(incompressible)).catch((e) => e);
    await adapter.releaseLock('too-large-held');

    // Assess: refused, and only the claim and the (late) release were judged
    expect(error).toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect(atRisk.forKey('too-large-held').map(({ request }) => request)).toEqual(['release']);
    expect(adapter.leaseHealth()).toMatchObject({ requests: 2, lapsed: 1 });
  });

  it('counts each lapsed lease of one acquisition: a renewal that lands starts a new lease', async () => {
    // Prepare: every renewal of a 300 ms lease is answered 350 ms late, after the lease it extends
    const { client, adapter } = env.isolatedAdapter();
    slowAnswers(client, isRenewal, 350);

    // Act: two renewals land, each after its lease had ended
    expect(await adapter.acquireLock('lapses-twice', 300)).toBe(true);
    await sleep(1_000);
    await adapter.releaseLock('lapses-twice');

    // Assess
    const lapsedRenewals = atRisk
      .forKey('lapses-twice')
      .filter(({ request, lapsed }) => request === 'renewal' && lapsed);
    expect(lapsedRenewals.length).toBeGreaterThanOrEqual(2);
    expect(adapter.leaseHealth().lapsed).toBeGreaterThanOrEqual(lapsedRenewals.length);
  });
});

describe('ElectroDynamoAdapter lease renewal write rate', () => {
  it('does not renew a lease shorter than 300 ms: a 50 ms lock held for 3 s costs its claim alone', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    const commands = recordCommands(client);

    // Act
    expect(await adapter.acquireLock('tiny-lease', 50)).toBe(true);
    await sleep(3_000);

    // Assess
    const puts = commands.sent.filter(({ name }) => name === 'PutItemCommand');
    expect(puts).toHaveLength(1);
    expect(isClaim(puts[0]?.name ?? '', puts[0]?.input ?? {})).toBe(true);
  });

  it('renews a 300 ms lease at most every 100 ms: held for 3 s, at most 30 renewals', async () => {
    // Prepare
    const { client, adapter } = env.isolatedAdapter();
    const commands = recordCommands(client);

    // Act
    expect(await adapter.acquireLock('short-lease', 300)).toBe(true);
    await sleep(3_000);
    await adapter.releaseLock('short-lease');

    // Assess
    const renewals = commands.sent.filter(({ name, input }) => isRenewal(name, input));
    expect(renewals.length).toBeLessThanOrEqual(30);
    expect(renewals.length).toBeGreaterThanOrEqual(10);
  });

  it('retries failed renewals no more often than every 100 ms', async () => {
    // Prepare: every renewal fails before it is sent
    const { client, adapter } = env.isolatedAdapter();
    const commands = recordCommands(client);
    failCommands(client, isRenewal);

    // Act
    expect(await adapter.acquireLock('failing-short-lease', 300)).toBe(true);
    await sleep(1_000);

    // Assess: the first renewal at 100 ms, retries 100 ms apart until the lease lapsed at 300 ms
    const renewals = commands.sent.filter(({ name, input }) => isRenewal(name, input));
    expect(renewals.length).toBeGreaterThanOrEqual(1);
    expect(renewals.length).toBeLessThanOrEqual(3);
    await adapter.releaseLock('failing-short-lease');
  });
});

describe('ElectroDynamoAdapter.waitForLock with late answers', () => {
  it('regression: a poll answered after the lease it read would have ended does not end the wait while the holder renews', async () => {
    // Prepare: a live holder renewing a 600 ms lease every 200 ms, and a waiter whose reads are
    // answered 650 ms late (found by the lease envelope run: waiters ended early and their
    // callers got CONFLICT while the holder lived)
    const holder = env.adapter();
    expect(await holder.acquireLock('late-polls', 600)).toBe(true);
    const { client, adapter: waiter } = env.isolatedAdapter();
    slowAnswers(client, (name) => name === 'GetItemCommand', 650);

    // Act
    const outcome = await waiter.waitForLock('late-polls', 1_500, 50).then(
      () => 'ended',
      (error: { code?: string }) => error.code,
    );
    await holder.releaseLock('late-polls');

    // Assess: each read saw a lease still running when it was sent
    expect(outcome).toBe('LOCK_TIMEOUT');
  });
});
