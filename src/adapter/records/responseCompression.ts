import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { type StoredRecord, serializationError } from './recordCodec.js';
import { MAX_RESPONSE_BYTES } from './responseLimit.js';

// The callback forms run on libuv's thread pool: a megabyte response does not stall the loop.
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * The same record with its response JSON gzip-compressed into the binary `responseGzip`
 * attribute: how a response too large for one item still fits. Small records stay plain
 * text, readable in the console.
 */
export async function compressResponse(item: StoredRecord): Promise<StoredRecord> {
  const { response, ...rest } = item;
  if (response === undefined) return item;
  return { ...rest, responseGzip: await gzipAsync(response) };
}

/**
 * The item with a compressed response turned back into the plain `response` text. Inflating
 * stops at MAX_RESPONSE_BYTES, the most `set` stores: an item altered into a gzip bomb (a few
 * hundred KB that inflate to gigabytes) fails here instead of growing the reader's memory.
 */
export async function inflateResponse(
  item: EntityItem<RecordEntity>,
): Promise<EntityItem<RecordEntity>> {
  const { responseGzip, ...rest } = item;
  if (responseGzip === undefined) return item;
  let inflated: Buffer;
  try {
    inflated = await gunzipAsync(responseGzip, { maxOutputLength: MAX_RESPONSE_BYTES });
  } catch (cause) {
    const problem =
      (cause as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE'
        ? `inflates past ${MAX_RESPONSE_BYTES} bytes, the most a stored response takes (MAX_RESPONSE_BYTES)`
        : `is not valid gzip: ${cause instanceof Error ? cause.message : String(cause)}`;
    throw serializationError(
      item.cacheKey,
      `Stored record of key ${JSON.stringify(item.cacheKey)}: field "responseGzip" ${problem}; the item was not written by this adapter or was altered`,
      cause,
      'get',
      { limit: MAX_RESPONSE_BYTES },
    );
  }
  return { ...rest, response: inflated.toString('utf8') };
}
