import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { EntityItem } from 'electrodb';
import type { RecordEntity } from '../../entities/createRecordEntity.js';
import { type StoredRecord, serializationError } from './recordCodec.js';

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

/** The item with a compressed response turned back into the plain `response` text. */
export async function inflateResponse(
  item: EntityItem<RecordEntity>,
): Promise<EntityItem<RecordEntity>> {
  const { responseGzip, ...rest } = item;
  if (responseGzip === undefined) return item;
  try {
    return { ...rest, response: (await gunzipAsync(responseGzip)).toString('utf8') };
  } catch (cause) {
    throw serializationError(
      item.cacheKey,
      'Stored record field "responseGzip" is not valid gzip; the item was not written by this adapter or was altered',
      cause,
      'get',
    );
  }
}
