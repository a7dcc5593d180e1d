// Capacity units per flow, per contender: a first execution, a replay, and a caller that arrives
// while another holds the key (it loses the claim, waits, and replays), each with a small
// response and a 20 KB one. Every flow runs on a metered client of its own, so the units are
// that flow's alone; the holder of the third flow runs on a client that is not metered.
import { meterCapacity, perFlow } from './capacity.mjs';
import { flowsFor, response } from './flows.mjs';

export const BODIES = {
  small: response,
  '20 KB': (key) => ({ ...response(key), attachment: 'x'.repeat(20_000) }),
};

/** Requests this client has had answered (or failed), to tell when a wait's first poll is back. */
function answeredRequests(client) {
  const answered = { count: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } finally {
        answered.count += 1;
      }
    },
    { step: 'initialize', name: 'benchAnsweredRequests' },
  );
  return answered;
}

function deferred() {
  let resolve;
  const promise = new Promise((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

async function until(condition, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('capacity flow: timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Starts the holder's execution of `key` and returns once its handler runs, which it keeps
 * running until `gate` is resolved; `holding` settles when the holder has stored and released.
 */
async function holdKey(holder, caller, key) {
  const running = deferred();
  const gate = deferred();
  const holding = holder.contended(key, async () => {
    running.resolve();
    await gate.promise;
    return caller.body(key);
  });
  await running.promise;
  return { gate, holding };
}

/**
 * The third flow for a core-driven contender. The holder claims and its handler blocks; the
 * caller loses the claim and starts waiting; once the wait's first poll is answered (it saw
 * the lock), the holder stores and releases, and the caller's next poll finds the record. So the
 * flow is always: a lost claim, one poll that sees the lock, one that sees the record, the get.
 */
async function waitedOnAdapter(holder, caller, answered, key, pollMs) {
  const { gate, holding } = await holdKey(holder, caller, key);
  let firstPollAnsweredAt;
  const waited = caller.flows.waiting(key, pollMs, () => {
    firstPollAnsweredAt = answered.count + 1;
  });
  await until(() => firstPollAnsweredAt !== undefined && answered.count >= firstPollAnsweredAt);
  gate.resolve();
  await holding;
  return waited;
}

/**
 * Powertools' callers do not wait: the one that arrives while another runs is refused at once
 * ("already in progress", a rejected conditional put), and its retry after the holder finished
 * replays (another rejected put, which returns the record).
 */
async function waitedOnPowertools(holder, caller, key) {
  const { gate, holding } = await holdKey(holder, caller, key);
  const refused = await caller.flows.contended(key, async () => caller.body(key));
  if (refused !== 'in-progress') throw new Error('capacity flow: Powertools ran a second time');
  gate.resolve();
  await holding;
  return caller.flows.replay(key);
}

/**
 * Units per flow of one contender. `make(client)` builds the contender's adapter (or driver) on
 * a client; `clientFor()` gives a fresh client on the backend.
 */
export async function capacityPerFlow({ kind, make }, clientFor, freshKey, options = {}) {
  const { flows: count = 10, pollMs = 50 } = options;
  const contender = (client, body) => {
    const made = { kind, ...make(client) };
    return { flows: flowsFor(made, body), body };
  };
  const results = {};
  for (const [size, body] of Object.entries(BODIES)) {
    const callerClient = clientFor();
    const meter = meterCapacity(callerClient);
    const answered = answeredRequests(callerClient);
    const caller = contender(callerClient, body);
    const holder = contender(clientFor(), body).flows;
    // One unmetered flow first: the SDK's lazy modules, and the lease a claim-on-miss instance
    // learns from the core's first acquireLock.
    await caller.flows.first(freshKey());

    const keys = Array.from({ length: count }, freshKey);
    meter.reset();
    for (const key of keys) await caller.flows.first(key);
    const first = perFlow(meter.snapshot(), count);

    meter.reset();
    for (const key of keys) await caller.flows.replay(key);
    const replay = perFlow(meter.snapshot(), count);

    meter.reset();
    for (let i = 0; i < count; i++) {
      const key = freshKey();
      if (kind === 'powertools') await waitedOnPowertools(holder, caller, key);
      else await waitedOnAdapter(holder, caller, answered, key, pollMs);
    }
    const waited = perFlow(meter.snapshot(), count);
    results[size] = { first, replay, waited };
  }
  return results;
}
