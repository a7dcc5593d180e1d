import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sleep } from './async.js';

/**
 * Holds back the answer of every matching command by `delayMs` after the server gave it, as a
 * throttled or congested link would: the request commits on time, its caller learns late.
 */
export function slowAnswers(
  client: DynamoDBClient,
  matches: (commandName: string, input: Record<string, unknown>) => boolean,
  delayMs: number,
): { enabled: boolean } {
  const state = { enabled: true };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const output = await next(args);
      if (
        state.enabled &&
        matches(String(context.commandName), args.input as Record<string, unknown>)
      ) {
        await sleep(delayMs);
      }
      return output;
    },
    { step: 'initialize', name: `slowAnswers${Math.random()}` },
  );
  return state;
}
