import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ElectroDynamoAdapter } from '../../src/adapter/ElectroDynamoAdapter.js';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { sleep, withDeadline } from '../support/async.js';
import { ACCESS_KEY_ID } from '../support/backend.js';
import { recordEvents } from '../support/channelEvents.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

const HOLDER = fileURLToPath(new URL('../support/holderProcess.mjs', import.meta.url));

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

interface HolderLine {
  event: string;
  at: number;
  [field: string]: unknown;
}

interface Holder {
  readonly child: ChildProcess;
  readonly lines: HolderLine[];
  /** Resolves with the first line (past or future) that `matches`. */
  next(matches: (line: HolderLine) => boolean, timeoutMs?: number): Promise<HolderLine>;
  readonly exited: Promise<unknown>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function startHolder(options: {
  key: string;
  lockTtl: number;
  handlerMs?: number;
  mode: 'idle' | 'handler';
  adapterOptions: object;
}): Holder {
  const child = spawn(
    process.execPath,
    [
      HOLDER,
      JSON.stringify({
        endpoint: env.endpoint,
        accessKeyId: ACCESS_KEY_ID,
        table: env.table,
        handlerMs: 0,
        ...options,
      }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const lines: HolderLine[] = [];
  const waiting: Array<{
    matches: (line: HolderLine) => boolean;
    resolve: (line: HolderLine) => void;
  }> = [];
  const { stdout } = child;
  if (stdout === null) throw new Error('the holder process has no stdout pipe');
  createInterface({ input: stdout }).on('line', (text) => {
    const line = JSON.parse(text) as HolderLine;
    lines.push(line);
    for (const waiter of waiting.filter(({ matches }) => matches(line))) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = once(child, 'exit');
  return {
    child,
    lines,
    exited,
    next(matches, timeoutMs = 10_000) {
      const seen = lines.find(matches);
      if (seen !== undefined) return Promise.resolve(seen);
      return withDeadline(
        timeoutMs,
        'holder line',
        new Promise<HolderLine>((resolve) => waiting.push({ matches, resolve })),
      );
    },
  };
}

const event = (name: string) => (line: HolderLine) => line.event === name;

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
      const [code] = (await withDeadline(10_000, 'idle holder exit', holder.exited)) as [number];

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

    it('a holder stopped past its lease is taken over; resumed, its renewal finds another owner and stops, and its late set lands as the last write', async () => {
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
      holder.child.kill('SIGCONT');
      const holderLost = await holder.next(event('leaseLost'));
      await holder.next(event('released'));
      const afterLateSet = await env.adapter().get(key('stopped-holder'));
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
      // Its late set stored its response over the successor's lock (last write wins) ...
      expect(afterLateSet?.response).toEqual({ by: holder.child.pid });
      // ... which the successor's next renewal found, so it stopped renewing too ...
      expect(lost.forKey(key('stopped-holder'))).toMatchObject([{ reason: 'replaced-by-record' }]);
      // ... and the successor's own set is the record that stays.
      expect((await env.adapter().get(key('stopped-holder')))?.response).toEqual({
        by: 'successor',
      });
    });
  },
);
