import type { TableDescription } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { checkKeySchema } from '../../src/table/keySchemaCheck.js';

function tableKeyedOn(...keys: Array<[name: string, type: 'S' | 'N' | 'B']>): TableDescription {
  return {
    TableName: 'app-table',
    AttributeDefinitions: keys.map(([name, type]) => ({
      AttributeName: name,
      AttributeType: type,
    })),
    KeySchema: keys.map(([name], index) => ({
      AttributeName: name,
      KeyType: index === 0 ? 'HASH' : 'RANGE',
    })),
  };
}

describe('checkKeySchema', () => {
  it('passes string keys named as the options say', () => {
    // Act
    const check = checkKeySchema(tableKeyedOn(['pk', 'S'], ['sk', 'S']), {
      pkField: 'pk',
      skField: 'sk',
    });

    // Assess
    expect(check).toEqual({
      name: 'key schema',
      status: 'pass',
      message: 'Table key is pk/sk, strings, as the options say',
    });
  });

  it('passes a partition-key-only table when skField is null', () => {
    // Act
    const check = checkKeySchema(tableKeyedOn(['id', 'S']), { pkField: 'id', skField: null });

    // Assess
    expect(check.status).toBe('pass');
  });

  it('suggests the sort key a pk/sk table has when skField is null', () => {
    // Act
    const check = checkKeySchema(tableKeyedOn(['pk', 'S'], ['sk', 'S']), {
      pkField: 'pk',
      skField: null,
    });

    // Assess
    expect(check.status).toBe('fail');
    expect(check.message).toBe(
      'Table key is pk/sk but the options say pk (no sort key): pass { pkField: "pk", skField: "sk" }',
    );
  });

  it('fails a numeric key without suggesting options, which could not fix it', () => {
    // Act
    const check = checkKeySchema(tableKeyedOn(['id', 'N'], ['sk', 'S']), {
      pkField: 'pk',
      skField: 'sk',
    });

    // Assess
    expect(check.status).toBe('fail');
    expect(check.message).toMatch(/"id" is N: the adapter writes string keys/);
    expect(check.message).not.toMatch(/pkField/);
  });
});
