import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTER_MODES } from '../support/adapterModes.mjs';
import { executeLikeCore } from '../support/coreReference.mjs';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

describe.each(ADAPTER_MODES)(
  'ElectroDynamoAdapter under concurrent duplicates ($mode mode)',
  ({ mode, options }) => {
    it('50 concurrent same-key calls through two instances run the handler once', async () => {
      // Prepare
      const instances = [env.adapter(options), env.adapter(options)];
      let executions = 0;
      const handler = async () => {
        executions += 1;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { orderId: `order-${executions}`, at: Date.now() };
      };

      // Act
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          executeLikeCore(
            instances[i % 2] as (typeof instances)[number],
            `${mode}-same-key`,
            handler,
            {
              lockTimeout: 10_000,
              lockTtl: 10_000,
              lockPollInterval: 10,
            },
          ),
        ),
      );

      // Assess
      expect(executions).toBe(1);
      expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
      expect(results[0]?.orderId).toBe('order-1');
    });
  },
);
