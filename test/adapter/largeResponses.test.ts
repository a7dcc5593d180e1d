import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotencyRecord } from '../../src/types.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

let env: TestTable;
beforeAll(async () => {
  env = await startTestTable();
});
afterAll(() => env.close());

const ITEM_LIMIT = 400 * 1024;

/** An order listing of about `bytes` of JSON, varied the way real API responses are. */
function orderListing(bytes: number) {
  const orders: Record<string, unknown>[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i += 1) {
    const order = {
      id: `ord_${i.toString(36).padStart(8, '0')}`,
      customer: { id: `cus_${(i * 7919) % 100_003}`, name: `Customer ${(i * 31) % 977}` },
      lines: [
        { sku: `SKU-${(i * 13) % 5000}`, qty: (i % 5) + 1, price: ((i * 37) % 10_000) / 100 },
        { sku: `SKU-${(i * 17) % 5000}`, qty: (i % 3) + 1, price: ((i * 53) % 10_000) / 100 },
      ],
      status: ['paid', 'shipped', 'refunded', 'pending'][i % 4],
      note: i % 11 === 0 ? 'leave at the door — merci, danke, ありがとう' : null,
    };
    size += JSON.stringify(order).length + 1;
    orders.push(order);
  }
  return { orders, count: orders.length };
}

function recordOf(response: unknown): IdempotencyRecord {
  return {
    response,
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    createdAt: Date.now(),
    ttl: 3_600_000,
  };
}

async function storedItem(key: string): Promise<Record<string, unknown> | undefined> {
  return (await env.scan()).find((item) => item.cacheKey === key);
}

describe('ElectroDynamoAdapter.set with large responses', () => {
  it('stores a 100 KB response as plain JSON and reads it back exactly', async () => {
    // Prepare
    const record = recordOf(orderListing(100 * 1024));
    expect(JSON.stringify(record.response).length).toBeGreaterThanOrEqual(100 * 1024);

    // Act
    await env.adapter().set('large-100k', record);

    // Assess
    expect(await env.adapter().get('large-100k')).toStrictEqual(record);
    const item = await storedItem('large-100k');
    expect(typeof item?.response).toBe('string');
    expect(item).not.toHaveProperty('responseGzip');
  });

  it('stores 1 MB of JSON gzip-compressed in a binary attribute and reads it back exactly', async () => {
    // Prepare
    const record = recordOf(orderListing(1024 * 1024));
    const json = JSON.stringify(record.response);
    expect(json.length).toBeGreaterThanOrEqual(1024 * 1024);

    // Act
    await env.adapter().set('large-1m', record);

    // Assess
    expect(await env.adapter().get('large-1m')).toStrictEqual(record);
    const item = await storedItem('large-1m');
    expect(item).not.toHaveProperty('response');
    expect(item?.responseGzip).toBeInstanceOf(Uint8Array);
    const compressed = item?.responseGzip as Uint8Array;
    expect(compressed.byteLength).toBeLessThan(ITEM_LIMIT);
    expect(gunzipSync(compressed).toString('utf8')).toBe(json);
  });

  it('compresses only past the limit: a response just under it stays plain and the table accepts it', async () => {
    // Prepare: the rest of the item (keys, markers, numbers, headers) is well under 1 KB
    const under = recordOf('u'.repeat(ITEM_LIMIT - 1024));
    const over = recordOf('o'.repeat(ITEM_LIMIT));

    // Act
    await env.adapter().set('just-under-limit', under);
    await env.adapter().set('just-over-limit', over);

    // Assess
    expect(typeof (await storedItem('just-under-limit'))?.response).toBe('string');
    expect((await storedItem('just-over-limit'))?.responseGzip).toBeInstanceOf(Uint8Array);
    expect(await env.adapter().get('just-under-limit')).toStrictEqual(under);
    expect(await env.adapter().get('just-over-limit')).toStrictEqual(over);
  });

  it('a response too large even compressed fails with SERIALIZATION_ERROR naming size and limit, and the key keeps its record', async () => {
    // Prepare: random bytes do not compress, so ~700 KB of base64 stays over 400 KB
    const adapter = env.adapter();
    const earlier = recordOf({ ok: true });
    await adapter.set('too-large', earlier);
    const incompressible = randomBytes(520 * 1024).toString('base64');
    env.commands.reset();

    // Act
    const error = await adapter.set('too-large', recordOf({ blob: incompressible })).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toMatchObject({
      name: 'IdempotencyError',
      code: 'SERIALIZATION_ERROR',
      context: { operation: 'set', key: 'too-large', limit: ITEM_LIMIT },
    });
    const { bytes, compressedBytes } = (error as { context: Record<string, number> }).context;
    expect(bytes).toBeGreaterThan(incompressible.length);
    expect(compressedBytes).toBeGreaterThan(ITEM_LIMIT);
    expect((error as Error).message).toBe(
      `Record is too large to store: ${bytes} bytes, ${compressedBytes} bytes with its response compressed, over DynamoDB's item limit of ${ITEM_LIMIT} bytes (400 KB)`,
    );
    expect(env.commands.sent).toEqual([]);
    expect(await env.adapter().get('too-large')).toStrictEqual(earlier);
  });

  it('a record too large for lack of anything compressible says so without a compressed size', async () => {
    // Prepare: no response, oversized headers
    const record: IdempotencyRecord = {
      response: undefined,
      headers: { 'x-large': 'h'.repeat(ITEM_LIMIT) },
      createdAt: Date.now(),
      ttl: 60_000,
    };

    // Act
    const error = await env
      .adapter()
      .set('too-large-headers', record)
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    // Assess
    expect(error).toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect((error as Error).message).toMatch(
      /^Record is too large to store: \d+ bytes, over DynamoDB's item limit of 409600 bytes \(400 KB\)$/,
    );
    expect(await storedItem('too-large-headers')).toBeUndefined();
  });

  it('a too-large record leaves the lock it would have replaced, so the holder can still release it', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.acquireLock('too-large-locked', 60_000);
    const incompressible = randomBytes(520 * 1024).toString('base64');

    // Act
    const set = adapter.set('too-large-locked', recordOf(incompressible));

    // Assess
    await expect(set).rejects.toMatchObject({ code: 'SERIALIZATION_ERROR' });
    expect(await env.adapter().acquireLock('too-large-locked', 60_000)).toBe(false);
    await adapter.releaseLock('too-large-locked');
    expect(await env.adapter().acquireLock('too-large-locked', 60_000)).toBe(true);
  });

  it('get reports a compressed response that is not valid gzip as SERIALIZATION_ERROR', async () => {
    // Prepare
    const adapter = env.adapter();
    await adapter.entities.record
      .put({
        cacheKey: 'corrupt-gzip',
        responseGzip: Buffer.from('not gzip at all'),
        createdAt: Date.now(),
        ttlMs: 60_000,
        validUntil: Date.now() + 60_000,
        expiresAt: 0,
      })
      .go();

    // Act / Assess
    await expect(adapter.get('corrupt-gzip')).rejects.toMatchObject({
      code: 'SERIALIZATION_ERROR',
      message: expect.stringMatching(
        /^Stored record of key "corrupt-gzip": field "responseGzip" is not valid gzip: incorrect header check;/,
      ),
      context: { operation: 'get', key: 'corrupt-gzip', limit: 10 * 1024 * 1024 },
    });
  });

  it('a local cache serves a compressed record exactly', async () => {
    // Prepare
    const record = recordOf(orderListing(600 * 1024));
    await env.adapter().set('large-cached', record);
    const cached = env.adapter({ localCache: { maxEntries: 10 } });
    await cached.get('large-cached');
    env.commands.reset();

    // Act
    const hit = await cached.get('large-cached');

    // Assess
    expect(hit).toStrictEqual(record);
    expect(env.commands.sent).toEqual([]);
  });
});
