import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The lease-envelope experiment (test/envelope/run.mjs, `npm run envelope`): outside the default
// include, so `npm test` never runs it. It starts its own server, so no global setup.
const backend = process.env.ENVELOPE_BACKEND || process.env.TEST_BACKEND || 'dynalite';
if (backend !== 'dynalite' && backend !== 'dynamodb-local') {
  throw new Error(`ENVELOPE_BACKEND must be dynalite or dynamodb-local (got "${backend}")`);
}

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/envelope/**/*.envelope.ts'],
    // Its figures are the output: straight to stdout, as they come.
    disableConsoleIntercept: true,
    hookTimeout: 60_000,
    env: {
      TEST_BACKEND: backend,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
