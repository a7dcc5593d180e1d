// The baseline: the documented design of the existing DynamoDB adapter with its own `cacheKey`
// table (see its README), written here with raw AWS SDK calls so both run in the same bench.
// A separate `lock:<key>` item, eventually consistent GetItem, a conditional PutItem with
// second-granularity `expiresAt`, an unconditional DeleteItem.
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class CacheKeyBaselineAdapter {
  constructor(client, table) {
    this.client = client;
    this.table = table;
  }

  async connect() {}
  async disconnect() {}

  async get(key) {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: { cacheKey: { S: key } } }),
    );
    if (!Item) return null;
    const item = unmarshall(Item);
    if (Date.now() > item.createdAt + item.ttl) return null;
    const record = { response: item.response, createdAt: item.createdAt, ttl: item.ttl };
    if (item.statusCode !== undefined) record.statusCode = item.statusCode;
    if (item.headers !== undefined) record.headers = item.headers;
    return record;
  }

  async set(key, record) {
    const item = {
      cacheKey: key,
      ...record,
      expiresAt: Math.floor((record.createdAt + record.ttl) / 1000),
    };
    await this.client.send(
      new PutItemCommand({
        TableName: this.table,
        Item: marshall(item, { removeUndefinedValues: true }),
      }),
    );
  }

  async delete(key) {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.table, Key: { cacheKey: { S: key } } }),
    );
  }

  async acquireLock(key, ttlMs) {
    const now = nowSeconds();
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            cacheKey: { S: `lock:${key}` },
            expiresAt: { N: String(now + Math.ceil(ttlMs / 1000)) },
          },
          ConditionExpression: 'attribute_not_exists(cacheKey) OR expiresAt < :nowSec',
          ExpressionAttributeValues: { ':nowSec': { N: String(now) } },
        }),
      );
      return true;
    } catch (error) {
      if (error.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async releaseLock(key) {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.table, Key: { cacheKey: { S: `lock:${key}` } } }),
    );
  }

  async waitForLock(key, timeoutMs, pollIntervalMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { Item } = await this.client.send(
        new GetItemCommand({ TableName: this.table, Key: { cacheKey: { S: `lock:${key}` } } }),
      );
      if (!Item || Number(Item.expiresAt.N) < nowSeconds()) return;
      if (Date.now() >= deadline) throw new Error('Lock wait timeout exceeded');
      await sleep(pollIntervalMs);
    }
  }
}
