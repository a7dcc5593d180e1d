import { deepStrictEqual } from 'node:assert/strict';
import { types } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeRecord,
  type RecordItem,
} from '../../src/adapter/records/recordCodec.js';
import { IdempotencyError } from '../../src/errors/IdempotencyError.js';
import type { IdempotencyRecord } from '../../src/types.js';
import { startTestTable, type TestTable } from '../support/testTable.js';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
/** Runs of the codec-level properties; raise it (FC_RUNS=100000) to hunt for counterexamples. */
const codecRuns = Number(process.env.FC_RUNS ?? 1_000);
console.log(`exactRecords fast-check seed: ${seed} (rerun with FC_SEED=${seed})`);

let env: TestTable;
const earlier: IdempotencyRecord = {
  response: { kept: true },
  createdAt: Date.now(),
  ttl: 3_600_000,
};
beforeAll(async () => {
  env = await startTestTable();
  // What the key holds before each refused set, and must still hold after it.
  await env.adapter().set('stored', earlier);
});
beforeEach(() => env.commands.reset());
afterAll(() => env.close());

const recordOf = (response: unknown): IdempotencyRecord => ({
  response,
  createdAt: Date.now(),
  ttl: 3_600_000,
});

/** What the codec alone makes of a record: the adapter's set and get without the table. */
function codecRoundTrip(response: unknown): IdempotencyRecord {
  return decodeRecord(encodeRecord('k', recordOf(response)) as RecordItem);
}

function codecRefusal(response: unknown): IdempotencyError {
  try {
    encodeRecord('k', recordOf(response));
  } catch (error) {
    expect(error).toBeInstanceOf(IdempotencyError);
    return error as IdempotencyError;
  }
  throw new Error('encodeRecord accepted the response');
}

async function rejection(call: Promise<unknown>): Promise<IdempotencyError> {
  const outcome = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(IdempotencyError);
  return outcome as IdempotencyError;
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  get length(): number {
    return Math.hypot(this.x, this.y);
  }
}

class Box {
  readonly tags = new Map([['a', 1]]);
}

const circular: Record<string, unknown> = { id: 1 };
circular.self = circular;
const deepCircle: { a: { b: { c?: unknown } } } = { a: { b: {} } };
deepCircle.a.b.c = deepCircle.a;
const sparse: number[] = [];
sparse[0] = 1;
sparse[2] = 3;
const arrayWithUndefined = [1, undefined];

describe('set refuses what JSON would change, naming the path', () => {
  it.each<[string, unknown, string, string]>([
    [
      'NaN deep in a list',
      { items: [{}, {}, { price: Number.NaN }] },
      '$.items[2].price',
      'is NaN',
    ],
    ['Infinity', { total: Number.POSITIVE_INFINITY }, '$.total', 'is Infinity'],
    ['-Infinity', [Number.NEGATIVE_INFINITY], '$[0]', 'is -Infinity'],
    ['NaN as the whole response', Number.NaN, '$', 'is NaN'],
    ['a bigint member', { amount: 10n }, '$.amount', 'is a bigint'],
    ['a bigint response', 10n, '$', 'is a bigint'],
    ['a function member', { f: () => 1 }, '$.f', 'is a function'],
    ['a function element', [() => 1], '$[0]', 'is a function'],
    ['a function response', () => 1, '$', 'is a function'],
    ['a symbol member', { s: Symbol('s') }, '$.s', 'is a symbol'],
    ['a symbol response', Symbol('s'), '$', 'is a symbol'],
    ['undefined as an element', arrayWithUndefined, '$[1]', 'is undefined (an array element)'],
    ['a hole in a sparse array', sparse, '$[1]', 'is undefined (an array element)'],
    ['a Map', { tags: new Map([['a', 1]]) }, '$.tags', 'is a Map'],
    ['a Set', { ids: new Set([1]) }, '$.ids', 'is a Set'],
    ['a WeakMap', { cache: new WeakMap() }, '$.cache', 'is a WeakMap'],
    ['a WeakSet', { seen: new WeakSet() }, '$.seen', 'is a WeakSet'],
    ['a Uint8Array', { bytes: new Uint8Array([1, 2]) }, '$.bytes', 'is a Uint8Array'],
    ['a Float64Array', [new Float64Array(1)], '$[0]', 'is a Float64Array'],
    ['an ArrayBuffer', { buffer: new ArrayBuffer(2) }, '$.buffer', 'is an ArrayBuffer'],
    [
      'a SharedArrayBuffer',
      { shared: new SharedArrayBuffer(2) },
      '$.shared',
      'is a SharedArrayBuffer',
    ],
    ['a DataView', { view: new DataView(new ArrayBuffer(2)) }, '$.view', 'is a DataView'],
    ['an Error', { error: new Error('boom') }, '$.error', 'is an Error'],
    ['an Error subclass as the response', new TypeError('boom'), '$', 'is an Error'],
    ['a circular reference', circular, '$.self', 'is a circular reference (back to $)'],
    ['a deeper cycle', deepCircle, '$.a.b.c', 'is a circular reference (back to $.a)'],
    ['a key that needs quoting', { 'content-type': Number.NaN }, '$["content-type"]', 'is NaN'],
    ['a toJSON returning NaN', { when: { toJSON: () => Number.NaN } }, '$.when', 'is NaN'],
    ['inside what toJSON returns', { toJSON: () => ({ x: [Number.NaN] }) }, '$.x[0]', 'is NaN'],
    [
      'a toJSON returning undefined for an element',
      [{ toJSON: () => undefined }],
      '$[0]',
      'is undefined (an array element)',
    ],
    ['a boxed NaN', { n: Object(Number.NaN) }, '$.n', 'is NaN'],
    ['a boxed bigint', { n: Object(1n) }, '$.n', 'is a bigint (boxed)'],
    ['a boxed symbol', { s: Object(Symbol('s')) }, '$.s', 'is a symbol (boxed)'],
    ['a Map inside a class instance', { box: new Box() }, '$.box.tags', 'is a Map'],
    ['an invalid Date', { at: new Date(Number.NaN) }, '$.at', 'is an invalid Date'],
    ['a RegExp', { pattern: /a+/g }, '$.pattern', 'is a RegExp'],
    ['a Promise', { pending: Promise.resolve(1) }, '$.pending', 'is a Promise'],
    ['a WeakRef', { ref: new WeakRef({}) }, '$.ref', 'is a WeakRef'],
    [
      'URLSearchParams',
      { query: new URLSearchParams('a=1') },
      '$.query',
      'is an iterable URLSearchParams; store its entries as an array or object',
    ],
    [
      'a generator',
      { rows: (function* () {})() },
      '$.rows',
      'is an iterable Generator; store its entries as an array or object',
    ],
  ])('%s', async (_label, response, path, problem) => {
    // Act
    const error = await rejection(env.adapter().set('stored', recordOf(response)));

    // Assess
    expect(error.code).toBe('SERIALIZATION_ERROR');
    expect(error.message).toBe(
      `Record field "response" cannot be stored exactly: ${path} ${problem}`,
    );
    expect(error.context).toEqual({ operation: 'set', key: 'stored', path });
    expect(env.commands.sent).toEqual([]);
    expect(await env.adapter().get('stored')).toStrictEqual(earlier);
  });

  it('a toJSON that throws is SERIALIZATION_ERROR carrying the error as cause', async () => {
    // Prepare
    const thrown = new Error('no JSON for you');

    // Act
    const error = await rejection(
      env.adapter().set(
        'stored',
        recordOf({
          bad: {
            toJSON: () => {
              throw thrown;
            },
          },
        }),
      ),
    );

    // Assess
    expect(error.code).toBe('SERIALIZATION_ERROR');
    expect(error.message).toBe('Record field "response" cannot be represented as JSON');
    expect(error.cause).toBe(thrown);
    expect(env.commands.sent).toEqual([]);
  });
});

describe('set finds cycles and depth as JSON would', () => {
  /** `{ a: { a: … } }`, `levels` objects deep; returns the root and the innermost object. */
  function nested(levels: number): {
    root: Record<string, unknown>;
    inner: Record<string, unknown>;
  } {
    const root: Record<string, unknown> = {};
    let inner = root;
    for (let level = 1; level < levels; level += 1) {
      const next: Record<string, unknown> = {};
      inner.a = next;
      inner = next;
    }
    return { root, inner };
  }

  it('a cycle closing 100 levels down is refused with its full path and where it closes', async () => {
    // Prepare: object 100 (99 steps down) points back at object 51 (50 steps down)
    const { root, inner } = nested(100);
    let target = root;
    for (let step = 0; step < 50; step += 1) target = target.a as Record<string, unknown>;
    inner.back = target;

    // Act
    const error = await rejection(env.adapter().set('stored', recordOf(root)));

    // Assess
    const path = `$${'.a'.repeat(99)}.back`;
    expect(error.message).toBe(
      `Record field "response" cannot be stored exactly: ${path} is a circular reference (back to $${'.a'.repeat(50)})`,
    );
    expect(error.context).toEqual({ operation: 'set', key: 'stored', path });
    expect(env.commands.sent).toEqual([]);
  });

  it('a response nested 500 deep without a cycle round-trips exactly', async () => {
    // Prepare
    const { root, inner } = nested(500);
    inner.leaf = [1, 'two', null];

    // Act
    await env.adapter().set('deep', recordOf(root));

    // Assess
    expect((await env.adapter().get('deep'))?.response).toStrictEqual(root);
  });

  it('nesting too deep for the stack is SERIALIZATION_ERROR carrying the RangeError, as before', () => {
    // Prepare
    const { root } = nested(100_000);

    // Act
    const error = codecRefusal(root);

    // Assess
    expect(error.message).toBe('Record field "response" cannot be represented as JSON');
    expect(error.cause).toBeInstanceOf(RangeError);
  });
});

describe('set stores the documented conversions, and only those', () => {
  it.each<[string, unknown, unknown]>([
    [
      'a Date as its ISO string',
      { at: new Date(Date.UTC(2024, 1, 29, 12)) },
      { at: '2024-02-29T12:00:00.000Z' },
    ],
    [
      'a Buffer as its toJSON form',
      { file: Buffer.from('hi') },
      { file: { type: 'Buffer', data: [104, 105] } },
    ],
    [
      'a custom toJSON result',
      { money: { cents: 150, toJSON: () => '1.50 EUR' } },
      { money: '1.50 EUR' },
    ],
    ['-0 as 0', { delta: -0, list: [-0] }, { delta: 0, list: [0] }],
    ['-0 as the whole response', -0, 0],
    ['an undefined member as absent', { kept: 1, dropped: undefined }, { kept: 1 }],
    ['a class instance as its own enumerable properties', new Point(3, 4), { x: 3, y: 4 }],
    [
      'a null-prototype object as a plain one',
      Object.assign(Object.create(null), { a: 1 }),
      { a: 1 },
    ],
    [
      'boxed primitives as their primitives',
      [Object('s'), Object(2), Object(false)],
      ['s', 2, false],
    ],
    [
      'symbol-keyed properties: ignored, as JSON ignores them',
      { a: 1, [Symbol('meta')]: 2 },
      { a: 1 },
    ],
    [
      'an array property that is not an element: ignored',
      Object.assign([1, 2], { extra: 3 }),
      [1, 2],
    ],
    [
      'an object seen twice without a cycle, twice',
      (() => {
        const shared = { n: 1 };
        return { a: shared, b: [shared] };
      })(),
      { a: { n: 1 }, b: [{ n: 1 }] },
    ],
  ])('%s', async (_label, response, expected) => {
    // Act
    await env.adapter().set('converted', recordOf(response));
    const stored = await env.adapter().get('converted');

    // Assess
    expect(stored?.response).toStrictEqual(expected);
    expect(stored?.response).toStrictEqual(JSON.parse(JSON.stringify(response)));
  });

  it('an undefined response is stored absent and reads back undefined', async () => {
    // Prepare
    const record = recordOf(undefined);

    // Act
    await env.adapter().set('undefined-response', record);

    // Assess
    expect(await env.adapter().get('undefined-response')).toStrictEqual(record);
  });

  it("the core's serialized error round-trips exactly", async () => {
    // Prepare
    const serialized = {
      '@@idempotency/error': true,
      name: 'PaymentError',
      message: 'declined',
      stack: new Error('declined').stack,
      extras: { code: 'card_declined', retryable: false },
    };

    // Act
    await env.adapter().set('serialized-error', recordOf(serialized));

    // Assess
    expect((await env.adapter().get('serialized-error'))?.response).toStrictEqual(serialized);
  });
});

/** -0 is the one JSON value JSON does not keep: it is a documented conversion, tested above. */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [name, member] of Object.entries(value)) {
      Object.defineProperty(copy, name, {
        value: withoutNegativeZero(member),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
  return value;
}

const exactJsonValue = fc.jsonValue().map(withoutNegativeZero);

/** Leaves JSON cannot keep, mixed into fc.anything's own. */
const oddLeaf = fc.constantFrom<unknown>(
  Symbol('leaf'),
  () => 1,
  new Error('leaf'),
  new WeakMap(),
  new WeakSet(),
  new ArrayBuffer(2),
  new DataView(new ArrayBuffer(2)),
  Buffer.from('leaf'),
  new Point(1, 2),
  { toJSON: () => 'custom' },
  { toJSON: () => Number.NaN },
  { toJSON: () => undefined },
  Object(1n),
  Object(Symbol('boxed')),
  Number.POSITIVE_INFINITY,
);

const anyValue = fc.anything({
  maxDepth: 3,
  // Names with a meaning to JS or to JSON, among arbitrary ones.
  key: fc.oneof(
    fc.string(),
    fc.constantFrom(
      '__proto__',
      'toJSON',
      'constructor',
      'valueOf',
      'content-type',
      '0',
      '1e3',
      '',
    ),
  ),
  values: [
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.constant(null),
    fc.constant(undefined),
    oddLeaf,
  ],
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
});

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const step = (name: string, inArray: boolean) =>
  inArray ? `[${name}]` : IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;

/**
 * The path of the first value JSON.stringify itself would change, found by a replacer (which
 * sees every value after its toJSON, in JSON's own order): an oracle written apart from the
 * adapter's walk. Undefined when JSON keeps everything (up to the documented conversions).
 */
function firstInexactPath(value: unknown): string | undefined {
  const paths = new Map<object, string>();
  let found: string | undefined;
  const isInexact = (holder: object, member: unknown): boolean => {
    switch (typeof member) {
      case 'number':
        return !Number.isFinite(member);
      case 'bigint':
      case 'function':
      case 'symbol':
        return true;
      case 'undefined':
        return Array.isArray(holder);
    }
    if (member === null || typeof member !== 'object') return false;
    if (types.isNumberObject(member)) return !Number.isFinite(Number(member));
    return (
      types.isBigIntObject(member) ||
      types.isSymbolObject(member) ||
      types.isMap(member) ||
      types.isSet(member) ||
      types.isWeakMap(member) ||
      types.isWeakSet(member) ||
      types.isTypedArray(member) ||
      types.isAnyArrayBuffer(member) ||
      types.isDataView(member) ||
      types.isRegExp(member) ||
      types.isPromise(member) ||
      member instanceof WeakRef ||
      (!Array.isArray(member) && !types.isBoxedPrimitive(member) && Symbol.iterator in member) ||
      member instanceof Error
    );
  };
  try {
    JSON.stringify(value, function (this: object, name: string, member: unknown) {
      if (found !== undefined) return undefined;
      const holderPath = paths.get(this);
      const path = holderPath === undefined ? '$' : holderPath + step(name, Array.isArray(this));
      // The replacer sees what toJSON returned: an invalid Date has already become null.
      const original = (this as Record<string, unknown>)[name];
      const invalidDate = types.isDate(original) && Number.isNaN(original.getTime());
      if (invalidDate || isInexact(this, member)) {
        found = path;
        return undefined;
      }
      if (typeof member === 'object' && member !== null) paths.set(member, path);
      return member;
    });
  } catch (error) {
    // A cycle: fc.anything builds none, so this would be news.
    throw new Error(`oracle failed: ${String(error)}`);
  }
  return found;
}

/** The value as the documented conversions store it, built apart from JSON.stringify. */
function documented(value: unknown, key = ''): unknown {
  let resolved = value;
  const toJSON =
    value !== null && (typeof value === 'object' || typeof value === 'bigint')
      ? (value as { toJSON?: unknown }).toJSON
      : undefined;
  if (typeof toJSON === 'function') resolved = toJSON.call(value, key);
  if (Object.is(resolved, -0)) return 0;
  if (typeof resolved !== 'object' || resolved === null) return resolved;
  if (types.isBoxedPrimitive(resolved)) return documented(resolved.valueOf());
  if (Array.isArray(resolved)) {
    return Array.from({ length: resolved.length }, (_, i) => documented(resolved[i], String(i)));
  }
  const plain: Record<string, unknown> = {};
  for (const name of Object.keys(resolved)) {
    const member = documented((resolved as Record<string, unknown>)[name], name);
    if (member === undefined) continue;
    Object.defineProperty(plain, name, {
      value: member,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return plain;
}

/** Either refused naming the path JSON would change first, or stored as documented. */
function expectRefusedOrDocumented(value: unknown, outcome: IdempotencyRecord | IdempotencyError) {
  const inexactPath = firstInexactPath(value);
  if (outcome instanceof IdempotencyError) {
    expect(outcome.code).toBe('SERIALIZATION_ERROR');
    expect(inexactPath).toBeDefined();
    expect(outcome.context?.path).toBe(inexactPath);
    expect(outcome.message).toContain(`cannot be stored exactly: ${inexactPath} is `);
    return;
  }
  expect(inexactPath).toBeUndefined();
  const json = JSON.stringify(value);
  deepStrictEqual(outcome.response, json === undefined ? undefined : JSON.parse(json));
  deepStrictEqual(outcome.response, documented(value));
}

/**
 * The properties compare with node:assert's deepStrictEqual, not toStrictEqual: vitest's
 * toStrictEqual also compares the objects' `constructor` properties, which a member named
 * "constructor" replaces (two distinct `[]` are then "different types").
 */
describe('properties', () => {
  it('any JSON value (but -0) round-trips deep-strictly-equal through the codec', () => {
    fc.assert(
      fc.property(exactJsonValue, (value) => {
        deepStrictEqual(codecRoundTrip(value).response, value);
      }),
      { seed, numRuns: codecRuns },
    );
  });

  it('any value is refused naming a path, or round-trips as JSON and the documented conversions say, through the codec', () => {
    const seen = { refused: 0, stored: 0 };
    fc.assert(
      fc.property(anyValue, (value) => {
        let outcome: IdempotencyRecord | IdempotencyError;
        try {
          outcome = codecRoundTrip(value);
          seen.stored += 1;
        } catch {
          outcome = codecRefusal(value);
          seen.refused += 1;
        }
        expectRefusedOrDocumented(value, outcome);
      }),
      { seed, numRuns: codecRuns },
    );
    console.log(`fc.anything through the codec: ${seen.stored} stored, ${seen.refused} refused`);
    expect(seen.stored).toBeGreaterThan(codecRuns / 10);
    expect(seen.refused).toBeGreaterThan(codecRuns / 10);
  });

  it('the same properties hold through the adapter and the table', async () => {
    const adapter = env.adapter();
    await fc.assert(
      fc.asyncProperty(exactJsonValue, async (value) => {
        await adapter.set('property-json', recordOf(value));
        deepStrictEqual((await adapter.get('property-json'))?.response, value);
      }),
      { seed, numRuns: 25 },
    );
    await fc.assert(
      fc.asyncProperty(anyValue, async (value) => {
        await adapter.set('property-any', recordOf('before'));
        const outcome = await adapter.set('property-any', recordOf(value)).then(
          async () => (await adapter.get('property-any')) as IdempotencyRecord,
          (error: unknown) => error as IdempotencyError,
        );
        expectRefusedOrDocumented(value, outcome);
        if (outcome instanceof IdempotencyError) {
          expect((await adapter.get('property-any'))?.response).toBe('before');
        }
      }),
      { seed, numRuns: 25 },
    );
  });
});

describe('exactJson cost', () => {
  it('regression: an object of many Date members lists its keys once, not once per member', async () => {
    // Prepare: a proxy that counts how often the walk asks for the object's keys
    const target = Object.fromEntries(
      Array.from({ length: 2_000 }, (_, index) => [`user${index}`, new Date(index)]),
    );
    let keyListings = 0;
    const counted = new Proxy(target, {
      ownKeys(object) {
        keyListings += 1;
        return Reflect.ownKeys(object);
      },
    });

    // Act
    const item = encodeRecord('many-dates', { response: counted, createdAt: 1, ttl: 1 });

    // Assess: once by the check, once by JSON.stringify
    expect(keyListings).toBeLessThanOrEqual(2);
    expect(JSON.parse(String(item.response)).user1999).toBe(new Date(1_999).toISOString());
  });
});

describe('counterexamples fast-check found', () => {
  it('regression: a member named "constructor" holding an array round-trips exactly', async () => {
    // Prepare: found by the fc.anything property (seed 757676400); the adapter was right, the
    // comparison was not (see the note on the properties)
    const response = { constructor: [] };

    // Act
    await env.adapter().set('member-named-constructor', recordOf(response));
    const stored = await env.adapter().get('member-named-constructor');

    // Assess
    deepStrictEqual(stored?.response, { constructor: [] });
  });

  it('regression: a boxed String (iterable, like a URLSearchParams) is stored as its primitive, not refused', async () => {
    // Prepare: found by the fc.anything property (seed 759693254) once iterables were refused;
    // the oracle took a boxed String for an iterable collection
    const response = {};
    Object.defineProperty(response, '__proto__', {
      value: Object(''),
      enumerable: true,
      writable: true,
      configurable: true,
    });

    // Act
    await env.adapter().set('boxed-string-member', recordOf(response));
    const stored = await env.adapter().get('boxed-string-member');

    // Assess
    deepStrictEqual(stored?.response, JSON.parse('{"__proto__":""}'));
  });
});
