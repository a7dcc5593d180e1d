import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface RequestGate {
  /** Resolves once the matching request is parked at the gate. */
  readonly reached: Promise<void>;
  /** Lets it go on. */
  release(): void;
}

/** Whether a low-level request writes a lock item (`PutItem` of the adapter's lock entity). */
export function isLockPut(command: string, input: Record<string, unknown>): boolean {
  const marker = (input.Item as { __edb_e__?: { S?: string } } | undefined)?.__edb_e__?.S;
  return command === 'PutItemCommand' && marker === 'idempotencyLock';
}

/** Whether a low-level request writes a record item (`PutItem` of the adapter's record entity). */
export function isRecordPut(command: string, input: Record<string, unknown>): boolean {
  const marker = (input.Item as { __edb_e__?: { S?: string } } | undefined)?.__edb_e__?.S;
  return command === 'PutItemCommand' && marker === 'idempotencyRecord';
}

/**
 * Parks the next request of `client` that `matches`, either before it is sent (`send`) or
 * after the server answered, before the answer is delivered (`answer`: the write has committed),
 * until `release()`. For regression tests that replay one interleaving by hand.
 */
export function gateRequest(
  client: DynamoDBClient,
  where: 'send' | 'answer',
  matches: (command: string, input: Record<string, unknown>) => boolean,
): RequestGate {
  let armed = true;
  let onReached: () => void = () => {};
  let onRelease: () => void = () => {};
  const reached = new Promise<void>((resolve) => {
    onReached = resolve;
  });
  const released = new Promise<void>((resolve) => {
    onRelease = resolve;
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!armed || !matches(String(context.commandName), args.input as Record<string, unknown>)) {
        return next(args);
      }
      armed = false;
      if (where === 'send') {
        onReached();
        await released;
        return next(args);
      }
      const output = await next(args);
      onReached();
      await released;
      return output;
    },
    { step: 'deserialize', name: `gate${Math.random()}`, priority: 'high' },
  );
  return { reached, release: () => onRelease() };
}
