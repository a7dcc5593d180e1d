import { describe, expect, it } from 'vitest';
import { runStress, violations } from '../../stress/harness.mjs';
import { backend, startBackend } from '../support/backend.js';

describe('ElectroDynamoAdapter across processes', () => {
  it('4 processes racing 8 callers per key over 100 keys execute each key exactly once', async () => {
    // Prepare
    const options = { processes: 4, keys: 100, callers: 8, deadlineMs: 25_000 };
    // dynalite: the harness serves its own in-process; otherwise the run's shared server.
    const shared = backend === 'dynalite' ? {} : { endpoint: (await startBackend()).endpoint };

    // Act
    const result = await runStress({ ...options, ...shared });

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
});
