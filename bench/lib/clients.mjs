import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * A client whose every command is counted (SDK middleware, once per logical request), with the
 * retries the SDK made for them (`$metadata.attempts` beyond the first, answered or failed).
 */
export function countedClient(endpoint, extra = {}) {
  const client = new DynamoDBClient({ endpoint, region: 'local', credentials, ...extra });
  const counter = { requests: 0, retries: 0 };
  const retriesOf = (metadata) => Math.max(0, (metadata?.attempts ?? 1) - 1);
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.requests += 1;
      try {
        const result = await next(args);
        counter.retries += retriesOf(result.output?.$metadata);
        return result;
      } catch (error) {
        counter.retries += retriesOf(error?.$metadata);
        throw error;
      }
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return { client, counter };
}

/**
 * A real client whose HTTP handler answers at once with a canned body per operation (and an
 * optional `statusCode`, for error answers), so CPU
 * measured around adapter calls is the SDK's, ElectroDB's and the adapter's, never the network's.
 */
export function stubbedClient(answer) {
  const handler = {
    async handle(request) {
      const operation = String(request.headers['x-amz-target']).split('.')[1];
      const { statusCode = 200, ...payload } = answer(operation);
      const body = Buffer.from(JSON.stringify(payload));
      return {
        response: {
          statusCode,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Readable.from([body]),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {};
    },
  };
  return countedClient('http://127.0.0.1:9', { requestHandler: handler });
}
