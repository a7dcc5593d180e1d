import { types } from 'node:util';

/**
 * A value JSON would store as something else, or drop, without a word: NaN turning into null,
 * a Map into `{}`, a function member vanishing. Carries where it sits, from the root (`$`).
 */
export class InexactValueError extends Error {
  constructor(
    /** JS-accessor path from the root: `$`, `$.items[2].price`, `$["content-type"]`. */
    readonly path: string,
    /** What sits there: `is NaN`, `is a Map`, `is undefined (an array element)`. */
    readonly problem: string,
  ) {
    super(`${path} ${problem}`);
    this.name = 'InexactValueError';
  }
}

/**
 * The JSON text of `value` when reading it back gives the same value, up to the documented
 * conversions: a `toJSON` result stands for its value (`Date` becomes its ISO string), `-0`
 * becomes `0`, an object member holding `undefined` is dropped, and an object that is not plain
 * (another class, a null prototype, a boxed primitive) comes back as a plain object of its own
 * enumerable string-keyed properties (or as its primitive). Like JSON, symbol-keyed properties
 * and an array's non-index properties are ignored. Anything else JSON would change throws
 * `InexactValueError`; errors thrown by a `toJSON` or a getter propagate as they are.
 *
 * One walk checks the value, then the native `JSON.stringify` writes it: a hand-written
 * serializer would be several times slower on the common small response. The walk mirrors
 * JSON.stringify's own steps (toJSON, unboxing, then arrays, then objects), so what it checks is
 * what gets written; a getter or `toJSON` that answers differently on a second call is the one
 * thing that could slip between the two.
 */
export function exactJson(value: unknown): string | undefined {
  let refusal = visit(value, '', undefined, 0);
  // Only a cycle nests without end: walk again, this time keeping the ancestors to find it.
  if (refusal === TOO_DEEP) refusal = visit(value, '', [], 0);
  if (refusal !== undefined) {
    throw new InexactValueError(pathOf(refusal.steps, refusal.steps.length), describe(refusal));
  }
  return JSON.stringify(value);
}

/** Built only on failure: the common path allocates nothing (but each object's key list). */
interface Refusal {
  readonly problem: string;
  /** Member names and indices from the offending value up to the root, pushed while unwinding. */
  readonly steps: (string | number)[];
  /** For a cycle, how many steps from the root lead to the object it closes on. */
  readonly cycleDepth?: number;
}

const refuse = (problem: string, cycleDepth?: number): Refusal =>
  cycleDepth === undefined ? { problem, steps: [] } : { problem, steps: [], cycleDepth };

/**
 * Containers nest this deep before the walk suspects a cycle. Below it the walk keeps no stack
 * of ancestors, which would cost a fifth of the walk on a response of many small objects.
 */
const UNTRACKED_DEPTH = 64;
/** Nesting passed UNTRACKED_DEPTH: start over with ancestors. Never reported, never extended. */
const TOO_DEEP: Refusal = Object.freeze({ problem: 'nests too deep', steps: [] });

/**
 * One property as JSON.stringify's SerializeJSONProperty sees it: the member `name` of its
 * holder (an array's index as a number, an object's key, '' for the root), at `depth`
 * containers down. `ancestors` is undefined while
 * no cycle is suspected, else the containers being walked, to catch a cycle as JSON does: an
 * object that contains itself, not one seen twice.
 */
function visit(
  value: unknown,
  name: string | number,
  ancestors: object[] | undefined,
  depth: number,
): Refusal | undefined {
  let resolved = value;
  const type = typeof value;
  if ((type === 'object' && value !== null) || type === 'function' || type === 'bigint') {
    // A toJSON method stands for the value, as in JSON.stringify; its result is checked like
    // any value, without a toJSON call of its own.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      resolved = toJSON.call(value, String(name));
      // An invalid Date's toJSON gives null: the date would come back as null.
      if (resolved === null && types.isDate(value)) return refuse('is an invalid Date');
    }
  }
  switch (typeof resolved) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(resolved) ? undefined : refuse(`is ${resolved}`);
    case 'undefined':
      // A member holding undefined reads back absent, which reads the same; an element would
      // read back null.
      return typeof name === 'number' ? refuse('is undefined (an array element)') : undefined;
    case 'symbol':
      return refuse('is a symbol');
    case 'bigint':
      return refuse('is a bigint');
    case 'function':
      return refuse('is a function');
  }
  if (resolved === null) return undefined;
  const object = resolved as object;
  if (Array.isArray(object)) return visitElements(object, ancestors, depth);
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    const verdict = classify(object);
    if (verdict !== 'members') return verdict;
  }
  return visitMembers(object as Record<string, unknown>, ancestors, depth);
}

/**
 * What becomes of an object that is neither an array nor plain: refused, stored as is (a boxed
 * primitive, which JSON writes as its primitive), or written as its own enumerable properties,
 * like an instance of any other class.
 */
function classify(value: object): Refusal | undefined | 'members' {
  if (types.isBoxedPrimitive(value)) {
    if (types.isSymbolObject(value)) return refuse('is a symbol (boxed)');
    if (types.isBigIntObject(value)) return refuse('is a bigint (boxed)');
    // A boxed number holds NaN as readily as a plain one.
    if (types.isNumberObject(value)) {
      const number = Number(value);
      return Number.isFinite(number) ? undefined : refuse(`is ${number}`);
    }
    return undefined; // a boxed string or boolean
  }
  // Kinds whose contents JSON would lose or garble (`{}`, or an object of indices).
  if (types.isMap(value)) return refuse('is a Map');
  if (types.isSet(value)) return refuse('is a Set');
  if (types.isWeakMap(value)) return refuse('is a WeakMap');
  if (types.isWeakSet(value)) return refuse('is a WeakSet');
  if (types.isTypedArray(value)) {
    return refuse(`is a ${(value as { [Symbol.toStringTag]: string })[Symbol.toStringTag]}`);
  }
  if (types.isAnyArrayBuffer(value)) {
    return refuse(types.isArrayBuffer(value) ? 'is an ArrayBuffer' : 'is a SharedArrayBuffer');
  }
  if (types.isDataView(value)) return refuse('is a DataView');
  // A raw Error would come back as `{}`: its message and stack are not enumerable.
  if (types.isNativeError(value) || value instanceof Error) return refuse('is an Error');
  // These keep their state in internal slots or private fields, and would come back as `{}`.
  if (types.isRegExp(value)) return refuse('is a RegExp');
  if (types.isPromise(value)) return refuse('is a Promise');
  if (value instanceof WeakRef) return refuse('is a WeakRef');
  // Another iterable (URLSearchParams, Headers, FormData, a generator) holds its entries
  // where JSON does not look.
  if (typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function') {
    return refuse(`is an iterable ${tagOf(value)}; store its entries as an array or object`);
  }
  return 'members';
}

function tagOf(value: object): string {
  const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  return typeof tag === 'string' ? tag : (value.constructor?.name ?? 'object');
}

/** Strings, booleans, finite numbers and null: most members, checked without a call. */
function isPlainScalar(value: unknown): boolean {
  const type = typeof value;
  return (
    type === 'string' ||
    type === 'boolean' ||
    (type === 'number' && Number.isFinite(value)) ||
    value === null
  );
}

/** Steps into a container: a refusal if it closes a cycle or nests too deep to tell yet. */
function enter(
  container: object,
  ancestors: object[] | undefined,
  depth: number,
): Refusal | undefined {
  if (ancestors === undefined) return depth < UNTRACKED_DEPTH ? undefined : TOO_DEEP;
  const closes = ancestors.indexOf(container);
  if (closes !== -1) return refuse('is a circular reference', closes);
  ancestors.push(container);
  return undefined;
}

function visitElements(
  array: unknown[],
  ancestors: object[] | undefined,
  depth: number,
): Refusal | undefined {
  const entered = enter(array, ancestors, depth);
  if (entered !== undefined) return entered;
  for (let index = 0; index < array.length; index += 1) {
    const element = array[index];
    if (isPlainScalar(element)) continue;
    const refusal = visit(element, index, ancestors, depth + 1);
    if (refusal !== undefined) {
      if (refusal !== TOO_DEEP) refusal.steps.push(index);
      return refusal;
    }
  }
  ancestors?.pop();
  return undefined;
}

function visitMembers(
  record: Record<string, unknown>,
  ancestors: object[] | undefined,
  depth: number,
): Refusal | undefined {
  const entered = enter(record, ancestors, depth);
  if (entered !== undefined) return entered;
  const names = Object.keys(record);
  for (let index = 0; index < names.length; index += 1) {
    const name = names[index] as string;
    const member = record[name];
    if (isPlainScalar(member)) continue;
    const refusal = visit(member, name, ancestors, depth + 1);
    if (refusal !== undefined) {
      if (refusal !== TOO_DEEP) refusal.steps.push(name);
      return refusal;
    }
  }
  ancestors?.pop();
  return undefined;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The first `depth` steps from the root, as a JS accessor: `$.items[2]["content-type"]`. */
function pathOf(stepsFromLeaf: readonly (string | number)[], depth: number): string {
  let path = '$';
  for (let i = stepsFromLeaf.length - 1; i >= stepsFromLeaf.length - depth; i -= 1) {
    const step = stepsFromLeaf[i] as string | number;
    if (typeof step === 'number') path += `[${step}]`;
    else path += IDENTIFIER.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
  }
  return path;
}

function describe(refusal: Refusal): string {
  if (refusal.cycleDepth === undefined) return refusal.problem;
  return `${refusal.problem} (back to ${pathOf(refusal.steps, refusal.cycleDepth)})`;
}
