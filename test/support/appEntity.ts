import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Entity } from 'electrodb';

/** An ordinary application entity living in the same table as the idempotency items. */
export function createUserEntity(client: DynamoDBDocumentClient, table: string) {
  return new Entity(
    {
      model: { entity: 'user', version: '1', service: 'app' },
      attributes: {
        userId: { type: 'string', required: true },
        name: { type: 'string', required: true },
      },
      indexes: {
        primary: {
          pk: { field: 'pk', composite: ['userId'] },
          sk: { field: 'sk', composite: [] },
        },
      },
    },
    { client, table },
  );
}
