import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenceErrorReason } from '../../src/index.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { executeLikeCore } from '../support/coreReference.mjs';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function itemOf(key: string): Promise<Record<string, unknown> | undefined> {
  return (await env.scan()).find((item) => item.cacheKey === key);
}

const record = (response: unknown) => ({ response, createdAt: Date.now(), ttl: 3_600_000 });

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter with a holder that stalls past its lock ttl ($mode mode)',
  ({ mode, options: modeOptions }) => {
    const key = (name: string) => `${mode}-${name}`;
    /** A stalled holder renews nothing: its lease lapses as with renewal off. */
    const stalledHolder = () => env.adapter({ ...modeOptions, lockRenewal: false });
    /** Reads go through a default-mode adapter, so that probing claims nothing. */
    const reader = () => env.adapter();

    it('the stalled lock is taken over, and the stalled holder releasing late leaves the new lock', async () => {
      // Prepare
      const stalled = stalledHolder();
      const successor = env.adapter(modeOptions);
      expect(await stalled.acquireLock(key('stall-release'), 500)).toBe(true);
      expect(await successor.acquireLock(key('stall-release'), 60_000)).toBe(false);
      await sleep(550);
      expect(await successor.acquireLock(key('stall-release'), 60_000)).toBe(true);
      const successorOwner = (await itemOf(key('stall-release')))?.owner;

      // Act
      await stalled.releaseLock(key('stall-release'));

      // Assess
      expect((await itemOf(key('stall-release')))?.owner).toBe(successorOwner);
      expect(await env.adapter().acquireLock(key('stall-release'), 60_000)).toBe(false);
      await expect(env.adapter().waitForLock(key('stall-release'), 100, 20)).rejects.toMatchObject({
        code: 'LOCK_TIMEOUT',
      });
    });

    it("the stalled holder's late set is refused (CONFLICT, lease-lost) and writes nothing; the new owner's lock and then its record stand", async () => {
      // Prepare
      const stalled = stalledHolder();
      const successor = env.adapter(modeOptions);
      await stalled.acquireLock(key('stall-set'), 200);
      await sleep(250);
      await successor.acquireLock(key('stall-set'), 60_000);
      const successorOwner = (await itemOf(key('stall-set')))?.owner;

      // Act: the stalled execution finishes and tries to store what it did
      const late = await stalled.set(key('stall-set'), record({ by: 'stalled' })).then(
        () => 'stored',
        (error: unknown) => error,
      );
      await stalled.releaseLock(key('stall-set'));

      // Assess: refused, and the new owner's lock is untouched
      expect(late).toMatchObject({ code: 'CONFLICT', context: { reason: 'lease-lost' } });
      expect(fenceErrorReason(late)).toBe('lease-lost');
      expect((await itemOf(key('stall-set')))?.owner).toBe(successorOwner);
      expect(await reader().get(key('stall-set'))).toBeNull();
      expect(await env.adapter().acquireLock(key('stall-set'), 60_000)).toBe(false);

      // Act: the successor finishes
      await successor.set(key('stall-set'), record({ by: 'successor' }));
      await successor.releaseLock(key('stall-set'));

      // Assess: its record is the one
      expect((await reader().get(key('stall-set')))?.response).toEqual({ by: 'successor' });
      expect(await itemOf(key('stall-set'))).not.toHaveProperty('owner');
    });

    it('the stalled holder releasing without a set (its handler failed) leaves the new owner lock and its later record', async () => {
      // Prepare
      const stalled = stalledHolder();
      const successor = env.adapter(modeOptions);
      await stalled.acquireLock(key('stall-fail'), 200);
      await sleep(250);
      await successor.acquireLock(key('stall-fail'), 60_000);
      await successor.set(key('stall-fail'), record({ by: 'successor' }));

      // Act
      await stalled.releaseLock(key('stall-fail'));

      // Assess
      expect((await reader().get(key('stall-fail')))?.response).toEqual({ by: 'successor' });
    });

    it('with renewal off, a handler slower than the lock ttl runs twice through the core sequence (the limit renewal lifts)', async () => {
      // Prepare: the first execution stalls for 6 lock lifetimes
      let executions = 0;
      const handler = async () => {
        executions += 1;
        const run = executions;
        if (run === 1) await sleep(900);
        return { run };
      };
      const options = { lockTtl: 150, lockTimeout: 2_000, lockPollInterval: 20 };

      // Act
      const first = executeLikeCore(stalledHolder(), key('slow-handler'), handler, options);
      await sleep(200);
      const second = await executeLikeCore(
        env.adapter(modeOptions),
        key('slow-handler'),
        handler,
        options,
      );
      const firstResult = await first.then(
        (value) => value,
        (error: unknown) => error,
      );

      // Assess: the lapsed lock let a second caller run the handler (its effects outside the
      // fence happen twice); the first caller's late set is refused, the second's record stands
      expect(executions).toBe(2);
      expect(second).toEqual({ run: 2 });
      expect(fenceErrorReason(firstResult)).toBe('lease-lost');
      expect(firstResult).toMatchObject({ code: 'CONFLICT' });
      expect((await reader().get(key('slow-handler')))?.response).toEqual({ run: 2 });
    });

    it('through the core sequence, a handler within the lock ttl runs once for callers that arrive while it runs', async () => {
      // Prepare
      let executions = 0;
      const handler = async () => {
        executions += 1;
        await sleep(200);
        return { run: executions };
      };
      const options = { lockTtl: 2_000, lockTimeout: 2_000, lockPollInterval: 20 };

      // Act
      const first = executeLikeCore(
        env.adapter(modeOptions),
        key('timely-handler'),
        handler,
        options,
      );
      await sleep(50);
      const late = await executeLikeCore(
        env.adapter(modeOptions),
        key('timely-handler'),
        handler,
        options,
      );

      // Assess
      expect(executions).toBe(1);
      expect(late).toEqual(await first);
    });
  },
);
