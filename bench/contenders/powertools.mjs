// Powertools for AWS Lambda (TypeScript) idempotency, driven through its DynamoDB persistence
// layer the way its handler drives it: every call starts with saveInProgress (a conditional
// put); a first execution then stores the result with saveSuccess; a replay's put fails, and the
// stored record comes back with the failure where the server returns it
// (ReturnValuesOnConditionCheckFailure: DynamoDB, DynamoDB Local), a replay of 1 request, or from
// a getRecord where it does not (dynalite), a replay of 2. The driver counts which path each
// replay took, so the bench reports what the backend did rather than what it should do.
import {
  IdempotencyConfig,
  IdempotencyItemAlreadyExistsError,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';

export class PowertoolsDriver {
  constructor(client, table) {
    this.persistence = new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client });
    // Powertools falls back to a default client (real AWS) if it does not recognise ours.
    if (this.persistence.client !== client) {
      throw new Error('Powertools did not take the bench client; refusing to run');
    }
    this.persistence.configure({
      config: new IdempotencyConfig({ expiresAfterSeconds: 3600 }),
      keyPrefix: 'bench',
    });
    /** Replays answered from the record returned with the failed put, and those that read it. */
    this.replays = { fromFailedPut: 0, read: 0 };
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
    const event = this.event(key);
    try {
      await this.persistence.saveInProgress(event, 30_000);
    } catch (error) {
      if (!(error instanceof IdempotencyItemAlreadyExistsError)) throw error;
      if (error.existingRecord) {
        this.replays.fromFailedPut += 1;
        return error.existingRecord.getResponse();
      }
      this.replays.read += 1;
      return (await this.persistence.getRecord(event)).getResponse();
    }
    throw new Error(`replay of ${key} found no stored record`);
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
