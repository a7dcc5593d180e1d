import { marshall } from '@aws-sdk/util-dynamodb';
import { ElectroDynamoAdapter } from '../../dist/index.js';
import { CacheKeyBaselineAdapter } from '../contenders/cacheKeyBaseline.mjs';
import { PowertoolsDriver } from '../contenders/powertools.mjs';
import { stubbedClient } from './clients.mjs';
import { flowsFor, response } from './flows.mjs';

/**
 * CPU per flow with real SDK clients whose HTTP handler answers at once: what remains is the
 * SDK's, ElectroDB's and each contender's own work. A stub answers every read with "no item" for
 * first executions and with a stored record for replays.
 */
const storedAt = Date.now();
const record = { response: response('cpu'), createdAt: storedAt, ttl: 3_600_000 };

function ourRecordItem(key) {
  const probe = new ElectroDynamoAdapter({
    client: stubbedClient(() => ({})).client,
    table: 'app-table',
    prefix: 'idem',
  });
  const { Item } = probe.entities.record
    .put({
      cacheKey: key,
      response: JSON.stringify(record.response),
      createdAt: record.createdAt,
      ttlMs: record.ttl,
      validUntil: record.createdAt + record.ttl,
      expiresAt: Math.ceil((record.createdAt + record.ttl) / 1000),
    })
    .params();
  return marshall(Item);
}

const baselineItem = (key) =>
  marshall({ cacheKey: key, ...record, expiresAt: Math.floor((storedAt + record.ttl) / 1000) });

function powertoolsItem(driver, key) {
  const id = driver.persistence.getHashedIdempotencyKey(driver.event(key));
  return marshall({
    id,
    status: 'COMPLETED',
    expiration: Math.floor(storedAt / 1000) + 3600,
    data: record.response,
  });
}

// What DynamoDB answers a conditional put that fails while asking for the old item back.
const conditionFailedWith = (item) => ({
  statusCode: 400,
  __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
  message: 'The conditional request failed',
  Item: item,
});

export const CLAIM_ON_MISS = 'ElectroDynamoAdapter, claimOnMiss';
// Powertools and claim-on-miss replay through a conditional put that fails, as on DynamoDB.
const REPLAYS_BY_FAILED_PUT = new Set(['Powertools', CLAIM_ON_MISS]);

function makeContender(name, withItem) {
  const { client } = stubbedClient((operation) => {
    if (!withItem.item) return {};
    if (operation === 'GetItem') return { Item: withItem.item };
    if (operation === 'PutItem' && REPLAYS_BY_FAILED_PUT.has(name)) {
      return conditionFailedWith(withItem.item);
    }
    return {};
  });
  if (name === 'ElectroDynamoAdapter' || name === CLAIM_ON_MISS) {
    return {
      kind: 'adapter',
      adapter: new ElectroDynamoAdapter({
        client,
        table: 'app-table',
        prefix: 'idem',
        claimOnMiss: name === CLAIM_ON_MISS,
      }),
    };
  }
  if (name === 'cacheKey baseline') {
    return { kind: 'adapter', adapter: new CacheKeyBaselineAdapter(client, 'idempotency-cache') };
  }
  return { kind: 'powertools', driver: new PowertoolsDriver(client, 'powertools-idempotency') };
}

async function cpuOf(run, from, count) {
  const before = process.cpuUsage();
  for (let i = from; i < from + count; i++) await run(i);
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

// A multiple of the number of contenders, so each runs first in as many rounds as the others.
const ROUNDS = 8;

export async function measureCpu(calls) {
  const names = ['ElectroDynamoAdapter', 'cacheKey baseline', 'Powertools', CLAIM_ON_MISS];
  const runs = names.map((name) => {
    const firstSide = makeContender(name, { item: undefined });
    const replayState = { item: undefined };
    const replaySide = makeContender(name, replayState);
    replayState.item =
      name === 'ElectroDynamoAdapter' || name === CLAIM_ON_MISS
        ? ourRecordItem('cpu-replay')
        : name === 'cacheKey baseline'
          ? baselineItem('cpu-replay')
          : powertoolsItem(replaySide.driver, 'cpu-replay');
    const first = flowsFor(firstSide).first;
    const replay = flowsFor(replaySide).replay;
    return {
      name,
      first: (i) => first(`cpu-first-${i}`),
      replay: () => replay('cpu-replay'),
      totals: { first: 0, replay: 0 },
    };
  });
  // Warm every contender before measuring any, then rotate the order each round: the SDK code
  // they share gets optimised by whoever runs first.
  for (const run of runs) {
    await cpuOf(run.first, -1000, 1000);
    await cpuOf(run.replay, 0, 1000);
  }
  const perRound = Math.ceil(calls / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < runs.length; i++) {
      const run = runs[(i + round) % runs.length];
      run.totals.first += await cpuOf(run.first, round * perRound, perRound);
      run.totals.replay += await cpuOf(run.replay, 0, perRound);
    }
  }
  const results = new Map();
  for (const run of runs) {
    const first = run.totals.first / (perRound * ROUNDS);
    const replay = run.totals.replay / (perRound * ROUNDS);
    const callsPerPair = run.name === 'Powertools' ? 2 + 1 : 5 + 1;
    results.set(run.name, { first, replay, perCall: (first + replay) / callsPerPair });
  }
  return results;
}
