import type { TableDescription } from '@aws-sdk/client-dynamodb';
import { describeKey, type TableFields } from '../tableFields.js';
import { fail, pass, type TableCheck } from './tableCheck.js';

const NAME = 'key schema';

/**
 * Compares the table's primary key with the options. A name mismatch is fixable from the
 * options, so the message spells out the options that match the table; a non-string key is not.
 */
export function checkKeySchema(
  table: TableDescription,
  fields: Pick<TableFields, 'pkField' | 'skField'>,
): TableCheck {
  const keyNamed = (type: 'HASH' | 'RANGE') =>
    table.KeySchema?.find((key) => key.KeyType === type)?.AttributeName;
  const typeOf = (name: string) =>
    table.AttributeDefinitions?.find((definition) => definition.AttributeName === name)
      ?.AttributeType;

  const hash = keyNamed('HASH');
  if (hash === undefined) {
    return fail(NAME, `Table "${table.TableName}" reports no partition key`);
  }
  const range = keyNamed('RANGE') ?? null;
  const actual = describeKey(hash, range);

  // Checked before names: suggesting key names would not help, the adapter writes strings.
  const nonString = [hash, range]
    .filter((name): name is string => name !== null)
    .map((name) => ({ name, type: typeOf(name) }))
    .filter(({ type }) => type !== 'S');
  if (nonString.length > 0) {
    const found = nonString.map(({ name, type }) => `"${name}" is ${type ?? 'untyped'}`).join(', ');
    return fail(
      NAME,
      `Table key is ${actual} and ${found}: the adapter writes string keys, so it needs a table whose key attributes are strings (S)`,
    );
  }

  if (hash !== fields.pkField || range !== fields.skField) {
    const suggestion = `{ pkField: ${JSON.stringify(hash)}, skField: ${range === null ? 'null' : JSON.stringify(range)} }`;
    return fail(
      NAME,
      `Table key is ${actual} but the options say ${describeKey(fields.pkField, fields.skField)}: pass ${suggestion}`,
    );
  }
  return pass(NAME, `Table key is ${actual}, strings, as the options say`);
}
