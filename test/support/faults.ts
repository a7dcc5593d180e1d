import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** A transient network failure the SDK's retry strategy retries. */
export function transientError(): Error {
  return Object.assign(new Error('Connection timed out after the request was sent'), {
    name: 'TimeoutError',
    $metadata: {},
  });
}

/**
 * Lets the next matching command reach the server and commit, then loses its answer with
 * `error`: by default a transient one, so the SDK retries the same request (an ambiguous
 * write); one the SDK does not retry leaves the caller with an error for a committed write.
 */
export function loseNextResponse(
  client: DynamoDBClient,
  matches: (commandName: string, input: Record<string, unknown>) => boolean,
  error: () => Error = transientError,
): { readonly fired: boolean } {
  const state = { fired: false };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const output = await next(args);
      if (
        !state.fired &&
        matches(String(context.commandName), args.input as Record<string, unknown>)
      ) {
        state.fired = true;
        throw error();
      }
      return output;
    },
    { step: 'deserialize', name: `loseNextResponse${Math.random()}`, priority: 'high' },
  );
  return state;
}

/**
 * Fails every matching command before it is sent, with an error the SDK does not retry: by
 * default an InjectedFailure, or an AWS-style error such as an access denial dynalite cannot
 * produce itself.
 */
export function failCommands(
  client: DynamoDBClient,
  matches: (commandName: string, input: Record<string, unknown>) => boolean,
  error: { name: string; message: string } = {
    name: 'InjectedFailure',
    message: 'Injected failure',
  },
): { enabled: boolean } {
  const switchState = { enabled: true };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (
        switchState.enabled &&
        matches(String(context.commandName), args.input as Record<string, unknown>)
      ) {
        throw Object.assign(new Error(error.message), { name: error.name, $fault: 'client' });
      }
      return next(args);
    },
    { step: 'initialize', name: `failCommands${Math.random()}` },
  );
  return switchState;
}
