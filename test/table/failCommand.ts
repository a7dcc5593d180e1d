import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Makes every `commandName` the client sends fail with an AWS-style error, before it leaves
 * the process: how a permission dynalite cannot deny looks to the caller.
 */
export function failCommand(
  client: DynamoDBClient,
  commandName: string,
  error: { name: string; message: string },
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === commandName) {
        throw Object.assign(new Error(error.message), { name: error.name });
      }
      return next(args);
    },
    { step: 'initialize', name: `fail${commandName}` },
  );
}
