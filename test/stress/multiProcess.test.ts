import { describe, expect, it } from 'vitest';
import {
  FENCED_PHASE,
  fencedViolations,
  runFencedStress,
  runStress,
  SLOW_PHASE,
  violations,
} from '../../stress/harness.mjs';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { backend, startBackend } from '../support/backend.js';

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter across processes ($mode mode)',
  ({ options: adapterOptions }) => {
    it('4 processes racing 8 callers per key over 100 keys execute each key exactly once', async () => {
      // Prepare
      const options = { processes: 4, keys: 100, callers: 8, deadlineMs: 25_000 };
      // dynalite: the harness serves its own in-process; otherwise the run's shared server.
      const shared = backend === 'dynalite' ? {} : { endpoint: (await startBackend()).endpoint };

      // Act
      const result = await runStress({ ...options, ...shared, adapterOptions });

      // Assess
      const context = `seed ${result.seed}; ${result.samples.join('; ')}`;
      expect(result.calls, context).toBe(100 * 8);
      expect(result.executions, context).toBe(100);
      expect(result.handlerRuns, context).toBe(100);
      expect(result.records, context).toBe(100);
      expect(result.duplicates, context).toBe(0);
      expect(result.mismatches, context).toBe(0);
      expect(result.errors, context).toBe(0);
      // Without callers waiting on a lock another process holds, nothing above was contended.
      expect(result.crossProcessWaits, context).toBeGreaterThan(0);
      expect(violations(result)).toEqual([]);
    }, 40_000);
  },
);

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter across processes with handlers slower than the lock ttl ($mode mode)',
  ({ options: adapterOptions }) => {
    it('4 processes, a fifth of 60 keys at 2–3 lock lifetimes: each key still runs once', async () => {
      // Prepare
      const options = { ...SLOW_PHASE, processes: 4, keys: 60, callers: 8, deadlineMs: 35_000 };
      const shared = backend === 'dynalite' ? {} : { endpoint: (await startBackend()).endpoint };

      // Act
      const result = await runStress({ ...options, ...shared, adapterOptions });

      // Assess
      const context = `seed ${result.seed}; ${result.samples.join('; ')}`;
      expect(result.executions, context).toBe(60);
      expect(result.handlerRuns, context).toBe(60);
      expect(result.duplicates, context).toBe(0);
      expect(result.mismatches, context).toBe(0);
      expect(result.errors, context).toBe(0);
      expect(result.leasesLost, context).toBe(0);
      // The slow handlers outlived their first lease: without renewals nothing was tested.
      expect(result.renewals, context).toBeGreaterThan(0);
      expect(violations(result)).toEqual([]);
    }, 50_000);
  },
);

// The fence needs TransactWriteItems, which dynalite lacks: DynamoDB Local only.
describe.runIf(backend === 'dynamodb-local').each(ADAPTER_MODES)(
  'ElectroDynamoAdapter across processes with fenced order writes and stalled holders ($mode mode)',
  ({ options: adapterOptions }) => {
    it('4 processes, 8 callers over 16 keys, a quarter stalled past the lease: one order per completed key, no answer lost', async () => {
      // Prepare
      const options = {
        ...FENCED_PHASE,
        processes: 4,
        keys: 16,
        callers: 8,
        deadlineMs: 20_000,
        fenced: { ...FENCED_PHASE.fenced, stallShare: 0.25 },
      };
      const { endpoint } = await startBackend();

      // Act
      const result = await runFencedStress({ ...options, endpoint, adapterOptions });

      // Assess
      const context = `seed ${result.seed}; ${result.samples.join('; ')}`;
      expect(result.calls, context).toBe(16 * 8);
      expect(result.stallKeys, context).toBe(4);
      // Every key completes: a stall key by its taker, or by its stalled holder if none came.
      expect(result.keysCompleted, context).toBe(16);
      expect(result.orderItems, context).toBe(result.keysCompleted);
      expect(result.duplicates, context).toBe(0);
      expect(result.completedWithoutOrder, context).toBe(0);
      expect(result.ordersWithoutAnswer, context).toBe(0);
      expect(result.disagreements, context).toBe(0);
      expect(result.lost, context).toBe(0);
      // Keys without a stall: plain contention, renewal on, every caller answered.
      expect(result.plainKeysIncomplete, context).toBe(0);
      expect(result.plainKeyFailures, context).toBe(0);
      expect(result.otherErrors, context).toBe(0);
      expect(result.leaseLostOther, context).toBe(0);
      // Without a stalled holder's fence failing, nothing was fenced.
      expect(result.leaseLostStalled, context).toBeGreaterThan(0);
      expect(fencedViolations(result)).toEqual([]);
    }, 30_000);
  },
);
