// Capacity units per flow: what a contender costs on an on-demand or provisioned table, which
// request counts alone do not say (a 20 KB record costs 20 write units per put, 5 per read).
// DynamoDB, DynamoDB Local and dynalite report units on every answered item request when asked,
// but never on a ConditionalCheckFailedException, so those writes are computed, not measured.

const OPERATIONS = new Set([
  'GetItemCommand',
  'QueryCommand',
  'PutItemCommand',
  'DeleteItemCommand',
  'UpdateItemCommand',
]);
const READS = new Set(['GetItemCommand', 'QueryCommand']);
const TRANSACT_WRITE = 'TransactWriteItemsCommand';
const PUT_ITEM = Symbol('benchCapacityPutItem');
const TRANSACT_ITEMS = Symbol('benchCapacityTransactItems');

const utf8 = (text) => Buffer.byteLength(text, 'utf8');

/**
 * AWS documents a number as "approximately" 1 byte per 2 significant digits plus 1. This is
 * dynalite's exact form of it (pairs of digits aligned on the decimal point, 1 more for a minus
 * sign), which DynamoDB Local matched to the byte at every 1 KB and 4 KB boundary we tried.
 */
function numberBytes(text) {
  const [mantissa, exponent = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const [whole, fraction = ''] = mantissa.replace(/^[-+]/, '').split('.');
  const all = whole + fraction;
  const leadingZeros = all.length - all.replace(/^0+/, '').length;
  const digits = all.replace(/^0+/, '').replace(/0+$/, '').length;
  if (digits === 0) return 1;
  // The power of ten of the first significant digit.
  const power = whole.length - leadingZeros - 1 + Number(exponent);
  const unpaired = digits % 2 !== 0 || power % 2 !== 0;
  return 1 + Math.ceil(digits / 2) + (unpaired ? 0 : 1) + (negative ? 1 : 0);
}

const binaryBytes = (value) =>
  typeof value === 'string' ? Buffer.from(value, 'base64').length : value.byteLength;

/** An AttributeValue's size by AWS's item-size rules ("Item sizes and formats"). */
function valueBytes(value) {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return binaryBytes(value.B);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + binaryBytes(b), 0);
  // Lists and maps: 3 bytes of their own, 1 per element.
  if (value.L !== undefined) return value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 3);
  if (value.M !== undefined) return 3 + Object.keys(value.M).length + itemBytes(value.M);
  return 0;
}

/** A marshalled item's size in bytes: each attribute's name plus its value. */
export function itemBytes(item = {}) {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += utf8(name) + valueBytes(value);
  return bytes;
}

const zero = () => ({
  requests: 0,
  readUnits: 0,
  writeUnits: 0,
  failedConditionalWrites: 0,
  computedWriteUnits: 0,
  unreported: 0,
  transactions: 0,
  transactionReportedUnits: 0,
  transactionWriteUnits: 0,
});

/** Units of a ConsumedCapacity answer: one object, or an array of them (transactions). */
function unitsOf(consumed, kind) {
  const list = Array.isArray(consumed) ? consumed : [consumed];
  return list.reduce((sum, c) => sum + (c?.[`${kind}CapacityUnits`] ?? c?.CapacityUnits ?? 0), 0);
}

/**
 * The write request units AWS bills a committed TransactWriteItems: 2 per 1 KB (rounded up, at
 * least 1) of each item ("Capacity unit consumption for transactions": a transactional write
 * costs twice a standard one). A Put's size is its marshalled Item; an Update, Delete or
 * ConditionCheck is counted at 1 KB, the floor, since its size is unknown client-side.
 */
export function transactionWriteUnits(transactItems = []) {
  return transactItems.reduce((sum, entry) => {
    const bytes = entry.Put === undefined ? 0 : itemBytes(entry.Put.Item);
    return sum + 2 * Math.max(1, Math.ceil(bytes / 1024));
  }, 0);
}

/**
 * Meters the capacity units of every GetItem, Query, PutItem, DeleteItem and UpdateItem (and
 * TransactWriteItems, metered apart: see `meterTransaction`) sent through `client` (and any DynamoDBDocumentClient made from it, which shares its middleware
 * stack). Asks for `ReturnConsumedCapacity: 'TOTAL'` where the caller did not say, and hides the
 * answer again from callers that did not ask, so contenders see what they would unmetered.
 *
 * A failed conditional write reports no units (AWS: "you don't receive any information in the
 * response about the write capacity that was consumed"; DynamoDB Local and dynalite send none
 * either), though AWS documents that it consumes write capacity: by the item's size, 1 KB per unit rounded up, at least 1 ("Capacity units consumed by
 * conditional writes"); the read/write-operations page adds that the size is the larger of the
 * stored item and the one the request would write (300 KB stored, 310 KB sent: 310 units). So
 * each is counted in `failedConditionalWrites` and charged max(stored, sent) rounded up to 1 KB,
 * at least 1, in `computedWriteUnits`. The stored item comes back with the failure because the
 * meter asks for it (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`, which AWS documents as
 * consuming no read units; the meter removes it again from callers that did not ask). "Sent" is
 * a PutItem's marshalled Item; an update's result is unknown client-side and a delete writes
 * none, so theirs is 0. dynalite never returns the stored item: there computed units are a floor.
 *
 * Retries: only the answer the caller gets is metered (an attempt that failed and was retried is
 * not), like `countedClient`'s request count.
 *
 * @param {import('@aws-sdk/client-dynamodb').DynamoDBClient} client
 */
export function meterCapacity(client) {
  let totals = zero();

  /**
   * A TransactWriteItems: the units the backend reports (`transactionReportedUnits`; DynamoDB
   * Local reports 1 per item and KB, not AWS's 2) and AWS's bill for it computed from the items
   * as sent (`transactionWriteUnits`). A cancelled transaction is not metered (the bench's
   * flows commit every one); it is counted in `requests` only.
   */
  async function meterTransaction(next, context, args) {
    const asked = args.input;
    totals.requests += 1;
    const result = await next({
      ...args,
      input: { ...asked, ReturnConsumedCapacity: asked.ReturnConsumedCapacity ?? 'TOTAL' },
    });
    const consumed = result.output?.ConsumedCapacity;
    totals.transactions += 1;
    if (consumed === undefined) totals.unreported += 1;
    else totals.transactionReportedUnits += unitsOf(consumed, 'Write');
    totals.transactionWriteUnits += transactionWriteUnits(context[TRANSACT_ITEMS]);
    if (asked.ReturnConsumedCapacity === undefined) delete result.output.ConsumedCapacity;
    return result;
  }

  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === TRANSACT_WRITE) return meterTransaction(next, context, args);
      if (!OPERATIONS.has(context.commandName)) return next(args);
      const asked = args.input;
      // A copy: ElectroDB and the contenders may reuse their params objects.
      const input = { ...asked, ReturnConsumedCapacity: asked.ReturnConsumedCapacity ?? 'TOTAL' };
      // Only with a ConditionExpression: the legacy `Expected` is not to be mixed with newer
      // parameters, and a write without a condition cannot fail one.
      const askStored =
        asked.ConditionExpression !== undefined &&
        asked.ReturnValuesOnConditionCheckFailure === undefined;
      if (askStored) input.ReturnValuesOnConditionCheckFailure = 'ALL_OLD';
      totals.requests += 1;
      try {
        const result = await next({ ...args, input });
        const consumed = result.output?.ConsumedCapacity;
        if (consumed === undefined) {
          totals.unreported += 1;
        } else if (READS.has(context.commandName)) {
          totals.readUnits += unitsOf(consumed, 'Read');
        } else {
          totals.writeUnits += unitsOf(consumed, 'Write');
        }
        if (asked.ReturnConsumedCapacity === undefined) delete result.output.ConsumedCapacity;
        return result;
      } catch (error) {
        if (error?.name === 'ConditionalCheckFailedException') {
          const stored = itemBytes(error.Item);
          const sent = itemBytes(context[PUT_ITEM]);
          totals.failedConditionalWrites += 1;
          totals.computedWriteUnits += Math.max(1, Math.ceil(Math.max(stored, sent) / 1024));
          if (askStored) delete error.Item;
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'benchCapacityMeter' },
  );
  // The item as sent: a DynamoDBDocumentClient marshalls it only in the serialize step.
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'PutItemCommand') context[PUT_ITEM] = args.input.Item;
      if (context.commandName === TRANSACT_WRITE)
        context[TRANSACT_ITEMS] = args.input.TransactItems;
      return next(args);
    },
    { step: 'build', name: 'benchCapacityPutItem' },
  );

  return {
    /**
     * Totals since the last reset. `writeUnits` are as the server reported them;
     * `computedWriteUnits` are those of failed conditional writes, by AWS's rule above;
     * `unreported` counts answers that carried no units (the caller asked for 'NONE').
     * Transactions: `transactions` committed, `transactionReportedUnits` as the server
     * reported them, `transactionWriteUnits` as AWS bills them (computed; not in `writeUnits`).
     */
    snapshot: () => ({ ...totals }),
    reset() {
      totals = zero();
    },
  };
}

/** A snapshot divided by the number of flows it covered. */
export function perFlow(snapshot, flows) {
  return Object.fromEntries(Object.entries(snapshot).map(([key, value]) => [key, value / flows]));
}

/**
 * Dollars per million flows, from the units of one flow and prices per million request units
 * (on demand) or per million capacity units. Computed write units, and transactions' write
 * units as AWS bills them, count as writes.
 *
 * @param {{ readUnits: number, writeUnits: number, computedWriteUnits?: number, transactionWriteUnits?: number }} units
 * @param {{ readPerMillion: number, writePerMillion: number }} prices
 */
export function costPerMillion(
  { readUnits, writeUnits, computedWriteUnits = 0, transactionWriteUnits = 0 },
  { readPerMillion, writePerMillion },
) {
  return (
    readUnits * readPerMillion +
    (writeUnits + computedWriteUnits + transactionWriteUnits) * writePerMillion
  );
}
