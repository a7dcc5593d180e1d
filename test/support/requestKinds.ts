/**
 * The adapter's requests by their exact condition expressions, so that a test can pick one kind
 * out of the commands sent, and assert it is built exactly so.
 */

/** A claim: the key holds no live item and no fence's mark. */
export const CLAIM_CONDITION =
  '(attribute_not_exists(#validUntil) OR #validUntil < :validUntil0) AND (attribute_not_exists(#markedUntil) OR #markedUntil < :markedUntil0)';

/** A renewal or a release: the lock is still ours and carries no mark of a fence. */
export const OWNER_UNMARKED_CONDITION = '#owner = :owner0 AND attribute_not_exists(#markedUntil)';

/** A renewal that keeps the mark a committed fence left on our lock. */
export const OWNER_CONDITION = '#owner = :owner0';

/** A holder's record put: its lock, unmarked, still holds the key, or its own record does (a retry). */
export const FENCED_RECORD_CONDITION =
  '(#lockOwner = :lockOwner0 AND attribute_not_exists(#markedUntil)) OR #storedBy = :storedBy0';

type Input = Record<string, unknown>;

const entityOf = (input: Input): string | undefined => {
  const marker = (input.Item as { __edb_e__?: unknown } | undefined)?.__edb_e__;
  // Low-level commands carry { S: name }; document-client ones the plain string.
  return typeof marker === 'string' ? marker : (marker as { S?: string } | undefined)?.S;
};

export const isClaim = (name: string, input: Input): boolean =>
  name === 'PutItemCommand' && input.ConditionExpression === CLAIM_CONDITION;

export const isRenewal = (name: string, input: Input): boolean =>
  name === 'PutItemCommand' &&
  String(entityOf(input)).endsWith('Lock') &&
  (input.ConditionExpression === OWNER_UNMARKED_CONDITION ||
    input.ConditionExpression === OWNER_CONDITION);

export const isRecordPut = (name: string, input: Input): boolean =>
  name === 'PutItemCommand' && String(entityOf(input)).endsWith('Record');
