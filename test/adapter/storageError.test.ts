import { describe, expect, it } from 'vitest';
import { asAdapterError } from '../../src/adapter/shared/storageError.js';

function validationError(message: string): Error {
  const error = new Error(message);
  error.name = 'ValidationException';
  return error;
}

const HINT =
  "(the adapter's key attributes are pk/sk; `electrodb-idempotency check` compares them with the table's key schema)";

describe('asAdapterError', () => {
  it.each([
    [
      'DynamoDB, PutItem',
      'One or more parameter values were invalid: Missing the key pk in the item',
    ],
    ['DynamoDB and dynalite, GetItem', 'The provided key element does not match the schema'],
    [
      'DynamoDB, wrong key type',
      'One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N',
    ],
    ['DynamoDB Local, PutItem', 'One of the required keys was not given a value'],
  ])('points a key mismatch worded as by %s to the key attributes and the check', (_, message) => {
    // Act
    const error = asAdapterError('set', 'app', 'k', validationError(message), 'pk/sk');

    // Assess
    expect(error.code).toBe('STORAGE_ERROR');
    expect(error.message).toBe(
      `DynamoDB request for set("k") on table "app" failed: ValidationException: ${message} ${HINT}`,
    );
  });

  it('adds no key hint to other validation errors', () => {
    // Act
    const error = asAdapterError(
      'set',
      'app',
      'k',
      validationError('Item size has exceeded the maximum allowed size'),
      'pk/sk',
    );

    // Assess
    expect(error.message).not.toContain('key attributes');
  });
});
