import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { sleep, withDeadline } from '../support/async.js';
import { ACCESS_KEY_ID } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import { event, killStartedProcesses, startLineProcess } from '../support/lineProcess.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

const HOLDER = fileURLToPath(new URL('../support/holderProcess.mjs', import.meta.url));

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());
afterEach(killStartedProcesses);

function startHolder(options: {
  key: string;
  lockTtl: number;
  handlerMs?: number;
  mode: 'idle' | 'handler';
  adapterOptions: object;
}) {
  return startLineProcess(HOLDER, {
    endpoint: env.endpoint,
    accessKeyId: ACCESS_KEY_ID,
    table: env.table,
    handlerMs: 0,
    ...options,
  });
}

async function itemOf(key: string): Promise<Record<string, unknown> | undefined> {
  return (await env.scan()).find((item) => item.cacheKey === key);
}

/**
 * Claims `key` with `adapter` as soon as the holder's lease lets it, in the core's order (a
 * `get` that finds no record, then `acquireLock`); when that was.
 */
async function claimWhenFree(
  adapter: ElectroDynamoAdapter,
  key: string,
  ttlMs: number,
  deadlineMs: number,
): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if ((await adapter.get(key)) === null && (await adapter.acquireLock(key, ttlMs))) {
      return Date.now();
    }
    await sleep(10);
  }
  throw new Error(`${key} still locked after ${deadlineMs} ms`);
}

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter lease renewal with real holder processes ($mode mode)',
  ({ mode: adapterMode, options: adapterOptions }) => {
    const key = (name: string) => `${adapterMode}-${name}`;

    it('a process that holds a lock and has nothing else to do exits: renewal keeps nothing alive', async () => {
      // Prepare / Act: a 60 s lease would be renewed at 20 s, were its timer keeping the process
      const holder = startHolder({
        key: key('idle-holder'),
        lockTtl: 60_000,
        mode: 'idle',
        adapterOptions,
      });
      await holder.next(event('acquired'));
      const [code] = await withDeadline(10_000, 'idle holder exit', holder.exited);

      // Assess
      expect(code).toBe(0);
      expect(holder.lines.map((line) => line.event)).toEqual(['acquired']);
    });

    it('a holder killed with SIGKILL mid-handler leaves a lock that lapses within lockTtl of its last renewal', async () => {
      // Prepare
      // Renewals a third of a second apart: the test reads each one before the next is due.
      const lockTtl = 1_000;
      const holder = startHolder({
        key: key('killed-holder'),
        lockTtl,
        handlerMs: 30_000,
        mode: 'handler',
        adapterOptions,
      });
      await holder.next((line) => line.event === 'leaseRenewed' && line.renewals === 2);

      // Act
      holder.child.kill('SIGKILL');
      await holder.exited;
      const lastRenewal = holder.lines.filter(event('leaseRenewed')).at(-1);
      const claimedAt = await claimWhenFree(
        env.adapter(adapterOptions),
        key('killed-holder'),
        60_000,
        5_000,
      );

      // Assess: never before the last lease ended, and within lockTtl of the last renewal
      const validUntil = Number(lastRenewal?.validUntil);
      expect(claimedAt).toBeGreaterThanOrEqual(validUntil);
      expect(claimedAt - Number(lastRenewal?.at)).toBeLessThanOrEqual(lockTtl + 250);
    });

    it("a holder stopped past its lease is taken over; resumed, its renewal finds another owner and stops, and its late set is rejected (lease-lost), leaving the successor's lock and record", async () => {
      // Prepare
      const lockTtl = 600;
      const lost = recordEvents('leaseLost');
      const holder = startHolder({
        key: key('stopped-holder'),
        lockTtl,
        handlerMs: 2_000,
        mode: 'handler',
        adapterOptions,
      });
      await holder.next((line) => line.event === 'leaseRenewed' && line.renewals === 1);

      // Act: stall it past its lease, take the key over, let it go on
      holder.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const successor = env.adapter(adapterOptions);
      const takenOverAt = await claimWhenFree(successor, key('stopped-holder'), lockTtl, 5_000);
      const successorOwner = (await itemOf(key('stopped-holder')))?.owner;
      holder.child.kill('SIGCONT');
      const holderLost = await holder.next(event('leaseLost'));
      const lateSet = await holder.next(event('setRejected'));
      await holder.next(event('released'));
      const [exitCode] = await withDeadline(10_000, 'stopped holder exit', holder.exited);
      const afterLateSet = await itemOf(key('stopped-holder'));
      const readAfterLateSet = await env.adapter().get(key('stopped-holder'));
      await sleep(lockTtl);
      await successor.set(key('stopped-holder'), {
        response: { by: 'successor' },
        createdAt: Date.now(),
        ttl: 3_600_000,
      });
      await successor.releaseLock(key('stopped-holder'));
      lost.stop();

      // Assess
      expect(takenOverAt).toBeGreaterThan(stoppedAt);
      expect(holderLost).toMatchObject({ key: key('stopped-holder'), reason: 'taken-over' });
      // No renewal after it found the key taken: its lease stayed lost.
      expect(
        holder.lines.filter((line) => line.event === 'leaseRenewed' && line.at > holderLost.at),
      ).toEqual([]);
      // Its late set was refused with the typed error and wrote nothing ...
      expect(lateSet).toMatchObject({ code: 'CONFLICT', reason: 'lease-lost' });
      expect(holder.lines.filter(event('set'))).toEqual([]);
      expect(exitCode).toBe(0);
      // ... so the successor's lock stood, untouched, with no record over it ...
      expect(successorOwner).toEqual(expect.any(String));
      expect(afterLateSet?.owner).toBe(successorOwner);
      expect(readAfterLateSet).toBeNull();
      // ... its renewals went on (it never lost its lease) ...
      expect(lost.forKey(key('stopped-holder'))).toEqual([]);
      // ... and the successor's own set is the record that stays.
      expect((await env.adapter().get(key('stopped-holder')))?.response).toEqual({
        by: 'successor',
      });
    });
  },
);
