// A lock holder in a process of its own, driving the built package: it claims a key (in
// claim-on-miss mode through `get` first, as the core calls it), then
// either does nothing more (and should exit by itself) or runs a handler of `handlerMs` and
// stores its result, as the core would. Every step and lease event is a JSON line on stdout,
// so the test can kill or stop it at a known point; a rejected `set` is reported (code and
// fence reason) as a line too, not thrown. Argument: JSON of the options below.
import { subscribe } from 'node:diagnostics_channel';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadBuiltPackage } from '../../stress/builtPackage.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { endpoint, accessKeyId, table, key, lockTtl, handlerMs, mode, adapterOptions } = JSON.parse(
  process.argv[2],
);
const { ElectroDynamoAdapter, IDEMPOTENCY_CHANNELS, fenceErrorReason } = await loadBuiltPackage();

const say = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...fields })}\n`);
for (const name of ['leaseRenewed', 'leaseLost', 'holdCapReached']) {
  subscribe(IDEMPOTENCY_CHANNELS[name], (message) => say(name, message));
}

const client = new DynamoDBClient({
  endpoint,
  region: 'local',
  credentials: { accessKeyId, secretAccessKey: 'local' },
});
const adapter = new ElectroDynamoAdapter({ client, table, prefix: 'idem', ...adapterOptions });

if ((await adapter.get(key)) !== null) throw new Error(`${key} already has a record`);
const acquired = await adapter.acquireLock(key, lockTtl);
say('acquired', { acquired });
if (mode === 'handler' && acquired) {
  await new Promise((resolve) => setTimeout(resolve, handlerMs));
  try {
    await adapter.set(key, {
      response: { by: process.pid },
      createdAt: Date.now(),
      ttl: 3_600_000,
    });
    say('set');
  } catch (error) {
    // A holder whose lease was lost stores nothing over its successor (fenced set).
    say('setRejected', { code: error?.code, reason: fenceErrorReason(error) });
  }
  await adapter.releaseLock(key);
  say('released');
  client.destroy();
}
// mode 'idle': nothing is left to do while the lock is held; the process must still exit.
