import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** DynamoDB's limit on one item: attribute names and values together, 400 KB. */
export const MAX_ITEM_BYTES = 400 * 1024;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * A number takes about one byte per two significant digits plus one. Counting every digit
 * (zeros and exponent too) and a byte for sign and alignment errs on the large side, the safe
 * side for a limit.
 */
function numberBytes(text: string): number {
  return Math.ceil(text.replace(/[^0-9]/g, '').length / 2) + 2;
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  // Maps and lists cost 3 bytes, plus 1 per element on top of the elements themselves.
  if (value.L !== undefined) return value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 3);
  if (value.M !== undefined) return 3 + itemBytes(value.M) + Object.keys(value.M).length;
  return 0;
}

/** The size DynamoDB charges an item against its 400 KB limit, by its documented rules. */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) total += utf8(name) + valueBytes(value);
  return total;
}
