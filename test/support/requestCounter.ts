import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/**
 * Records every command the client sends (SDK middleware at the initialize step, so one entry
 * per logical request, before retries).
 */
export function recordCommands(client: DynamoDBClient): { sent: SentCommand[]; reset(): void } {
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({
        name: String(context.commandName),
        input: args.input as Record<string, unknown>,
      });
      return next(args);
    },
    { step: 'initialize', name: 'testCommandRecorder' },
  );
  return {
    sent,
    reset() {
      sent.length = 0;
    },
  };
}
