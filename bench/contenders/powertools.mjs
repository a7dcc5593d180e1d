// Powertools for AWS Lambda (TypeScript) idempotency, driven through its DynamoDB persistence
// layer the way its handler drives it: saveInProgress then saveSuccess for a first execution;
// a replay costs one request (on DynamoDB the failed conditional put returns the stored record;
// dynalite does not return it, so the replay here is measured as its getRecord, also one request).
import {
  IdempotencyConfig,
  IdempotencyItemAlreadyExistsError,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';

export class PowertoolsDriver {
  constructor(client, table) {
    this.persistence = new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client });
    this.persistence.configure({
      config: new IdempotencyConfig({ expiresAfterSeconds: 3600 }),
      keyPrefix: 'bench',
    });
  }

  event(key) {
    return { idempotencyKey: key, body: { orderId: key, amount: 42 } };
  }

  /** First execution: claim in progress, run, store the result. */
  async firstExecution(key, handler) {
    const event = this.event(key);
    await this.persistence.saveInProgress(event, 30_000);
    const result = await handler();
    await this.persistence.saveSuccess(event, result);
    return result;
  }

  async replay(key) {
    const record = await this.persistence.getRecord(this.event(key));
    return record.getResponse();
  }

  /** A contended caller: wins the claim and runs, or learns at once that another is running. */
  async contendedCall(key, handler) {
    try {
      return await this.firstExecution(key, handler);
    } catch (error) {
      if (error instanceof IdempotencyItemAlreadyExistsError) return 'in-progress';
      throw error;
    }
  }
}
