import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_BYTES } from '../../src/index.js';
import type { IdempotencyRecord } from '../../src/types.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

const MiB = 1024 * 1024;
/** What the bomb inflates to: 30 times the bound, so an unbounded get grows by ~600 MB. */
const BOMB_ZEROS = 300 * MiB;
/** Well under what an unbounded inflate costs, well over what a bounded one does (~10-20 MB). */
const MEMORY_GROWTH_BOUND = 64 * MiB;

let env: TestTable;
let bomb: Buffer;
beforeAll(async () => {
  env = await startTestTable();
  bomb = await gzipBomb(BOMB_ZEROS);
});
afterAll(() => env.close());

/**
 * The gzip of a JSON string of `zeros` zeros, streamed in 1 MiB chunks so that building it never
 * holds the inflated text: ~300 KB for 300 MB, small enough for one DynamoDB item.
 */
async function gzipBomb(zeros: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(gzip, 'end');
  const chunk = Buffer.alloc(MiB, '0');
  gzip.write('"');
  for (let written = 0; written < zeros; written += chunk.length) {
    if (!gzip.write(chunk)) await once(gzip, 'drain');
  }
  gzip.end('"');
  await ended;
  return Buffer.concat(chunks);
}

/** A record item whose compressed response is `responseGzip`, written past the adapter. */
async function putCompressed(key: string, responseGzip: Uint8Array): Promise<void> {
  const now = Date.now();
  await env
    .adapter()
    .entities.record.put({
      cacheKey: key,
      responseGzip,
      createdAt: now,
      ttlMs: 60_000,
      validUntil: now + 60_000,
      expiresAt: Math.floor(now / 1000) + 60,
    })
    .go();
}

async function rejection(call: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const outcome = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error & Record<string, unknown>;
}

/** The largest growth of rss and of Buffer memory seen while `run` was pending. */
async function peakGrowth(run: () => Promise<unknown>): Promise<{ rss: number; buffers: number }> {
  const buffers = (usage: NodeJS.MemoryUsage) => usage.arrayBuffers + usage.external;
  const before = process.memoryUsage();
  const peak = { rss: 0, buffers: 0 };
  const sample = () => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss - before.rss);
    peak.buffers = Math.max(peak.buffers, buffers(now) - buffers(before));
  };
  // Inflating runs on the thread pool, so the loop is free to sample meanwhile.
  const sampler = setInterval(sample, 2);
  try {
    await run();
  } finally {
    clearInterval(sampler);
    sample();
  }
  return peak;
}

function recordOf(response: unknown): IdempotencyRecord {
  return { response, statusCode: 200, createdAt: Date.now(), ttl: 3_600_000 };
}

/** A response whose JSON is exactly `bytes` UTF-8 bytes, a third of its text two-byte "é". */
function responseOfJsonBytes(bytes: number): { text: string } {
  const frame = JSON.stringify({ text: '' }).length;
  const accents = Math.floor((bytes - frame) / 6);
  const text = 'é'.repeat(accents) + 'x'.repeat(bytes - frame - 2 * accents);
  const response = { text };
  expect(Buffer.byteLength(JSON.stringify(response), 'utf8')).toBe(bytes);
  return response;
}

describe('get bounds what a compressed response may inflate to', () => {
  it('MAX_RESPONSE_BYTES is 10 MiB', () => {
    // Assess
    expect(MAX_RESPONSE_BYTES).toBe(10 * MiB);
  });

  it('a gzip bomb fails as SERIALIZATION_ERROR naming the key, and memory grows well under 64 MB', async () => {
    // Prepare
    expect(bomb.byteLength).toBeLessThan(350 * 1024);
    await putCompressed('bomb', bomb);
    const adapter = env.adapter();

    // Act
    let outcome: unknown;
    const growth = await peakGrowth(async () => {
      outcome = await adapter.get('bomb').then(
        (record) => record,
        (e: unknown) => e,
      );
    });
    console.log(
      `gzip bomb get (${(bomb.byteLength / 1024).toFixed(0)} KB inflating to ${BOMB_ZEROS / MiB} MiB): ` +
        `peak growth rss ${(growth.rss / MiB).toFixed(1)} MiB, arrayBuffers+external ${(growth.buffers / MiB).toFixed(1)} MiB`,
    );

    // Assess
    expect(outcome).toBeInstanceOf(Error);
    const error = outcome as Error;
    expect(error).toMatchObject({
      name: 'IdempotencyError',
      code: 'SERIALIZATION_ERROR',
      context: { operation: 'get', key: 'bomb', limit: MAX_RESPONSE_BYTES },
    });
    expect(error.message).toBe(
      'Stored record of key "bomb": field "responseGzip" inflates past 10485760 bytes, the most a stored response takes (MAX_RESPONSE_BYTES); the item was not written by this adapter or was altered',
    );
    expect(error.cause).toMatchObject({ code: 'ERR_BUFFER_TOO_LARGE' });
    expect(growth.rss).toBeLessThan(MEMORY_GROWTH_BOUND);
    expect(growth.buffers).toBeLessThan(MEMORY_GROWTH_BOUND);
  });

  it('a gzip bomb fails the same through a local cache, and nothing is cached', async () => {
    // Prepare
    await putCompressed('bomb-cached', bomb);
    const cached = env.adapter({ localCache: { maxEntries: 10 } });

    // Act
    const first = await rejection(cached.get('bomb-cached'));
    env.commands.reset();
    const second = await rejection(cached.get('bomb-cached'));

    // Assess: the second get read the table again; no partial record was kept
    expect(first).toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect(second).toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect(env.commands.sent).toHaveLength(1);
  });

  it('a truncated gzip stream fails as SERIALIZATION_ERROR: unexpected end of file', async () => {
    // Prepare: a real compressed response, cut in half
    const whole = gzipSync(JSON.stringify({ orders: Array.from({ length: 2_000 }, (_, i) => i) }));
    await putCompressed('truncated', whole.subarray(0, whole.byteLength >> 1));

    // Act
    const error = await rejection(env.adapter().get('truncated'));

    // Assess
    expect(error).toMatchObject({
      code: 'SERIALIZATION_ERROR',
      context: { operation: 'get', key: 'truncated', limit: MAX_RESPONSE_BYTES },
    });
    expect(error.message).toBe(
      'Stored record of key "truncated": field "responseGzip" is not valid gzip: unexpected end of file; the item was not written by this adapter or was altered',
    );
    expect(error.cause).toMatchObject({ code: 'Z_BUF_ERROR' });
  });

  it('random bytes fail as SERIALIZATION_ERROR naming the key, quoted', async () => {
    // Prepare: a key that needs quoting; the first byte is not gzip's magic 0x1f
    const key = 'random "bytes"';
    const bytes = randomBytes(4_096);
    bytes[0] = 0x42;
    await putCompressed(key, bytes);

    // Act
    const error = await rejection(env.adapter().get(key));

    // Assess
    expect(error).toMatchObject({
      code: 'SERIALIZATION_ERROR',
      context: { operation: 'get', key, limit: MAX_RESPONSE_BYTES },
    });
    expect(error.message).toMatch(
      /^Stored record of key "random \\"bytes\\"": field "responseGzip" is not valid gzip: incorrect header check;/,
    );
    expect(error.cause).toMatchObject({ code: 'Z_DATA_ERROR' });
  });
});

describe('set stores responses up to MAX_RESPONSE_BYTES', () => {
  it('refuses a response just over 10 MiB of UTF-8 (fewer UTF-16 units) and the key keeps its record', async () => {
    // Prepare
    const adapter = env.adapter();
    const earlier = recordOf({ ok: true });
    await adapter.set('over-bound', earlier);
    const response = responseOfJsonBytes(MAX_RESPONSE_BYTES + 1);
    expect(JSON.stringify(response).length).toBeLessThan(MAX_RESPONSE_BYTES);
    env.commands.reset();

    // Act
    const error = await rejection(adapter.set('over-bound', recordOf(response)));

    // Assess
    expect(error).toMatchObject({
      name: 'IdempotencyError',
      code: 'SERIALIZATION_ERROR',
      context: {
        operation: 'set',
        key: 'over-bound',
        bytes: MAX_RESPONSE_BYTES + 1,
        limit: MAX_RESPONSE_BYTES,
      },
    });
    expect(error.message).toBe(
      'Record field "response" of key "over-bound" is 10485761 bytes of JSON, over the limit of 10485760 bytes (MAX_RESPONSE_BYTES, 10 MiB)',
    );
    expect(env.commands.sent).toEqual([]);
    expect(await adapter.get('over-bound')).toStrictEqual(earlier);
  });

  it('round-trips a response of exactly 10 MiB of JSON that compresses well', async () => {
    // Prepare
    const record = recordOf(responseOfJsonBytes(MAX_RESPONSE_BYTES));

    // Act
    await env.adapter().set('at-bound', record);
    const stored = await env.adapter().get('at-bound');

    // Assess
    expect(stored).toStrictEqual(record);
    const item = (await env.scan()).find((i) => i.cacheKey === 'at-bound');
    expect(item?.responseGzip).toBeInstanceOf(Uint8Array);
  });
});
