import type { TestProject } from 'vitest/node';
import { readBackendName } from './backendName.mjs';
import { startDynamoDbLocal } from './dynamoDbLocal.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's shared DynamoDB endpoint; unset on dynalite, where each file starts its own. */
    dynamoEndpoint: string;
  }
}

/**
 * One DynamoDB Local for the whole run: a JVM start costs about 1.6 s, once per file it would
 * cost more than most files take. Files keep apart by access key (see backend.ts).
 */
export default async function setup(project: TestProject) {
  const backend = readBackendName(process.env);
  if (backend === 'endpoint') {
    project.provide('dynamoEndpoint', String(process.env.TEST_DYNAMODB_ENDPOINT));
    return;
  }
  if (backend !== 'dynamodb-local') return;
  const server = await startDynamoDbLocal();
  project.provide('dynamoEndpoint', server.endpoint);
  return () => server.kill();
}
