import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

export interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

const ATTRIBUTE_VALUE_TAGS = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL']);

function isMarshalled(value: unknown): value is Record<string, AttributeValue> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((v) => {
      const tags = typeof v === 'object' && v !== null ? Object.keys(v) : [];
      return tags.length === 1 && ATTRIBUTE_VALUE_TAGS.has(tags[0] as string);
    })
  );
}

/** The input as plain JSON, whether a document or a low-level command sent it. */
function plainInput(input: Record<string, unknown>): Record<string, unknown> {
  const plain = { ...input };
  for (const part of ['Key', 'Item', 'ExpressionAttributeValues']) {
    const value = plain[part];
    if (isMarshalled(value)) plain[part] = unmarshall(value);
  }
  return plain;
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
        input: plainInput(args.input as Record<string, unknown>),
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
