import { isDeepStrictEqual } from 'node:util';

/** The values a request is built from: attribute values and condition operands. */
export type RequestValues = Readonly<Record<string, string | number>>;

type Part = (values: RequestValues) => unknown;

// Markers stand in for the values while ElectroDB builds the template: strings bracketed by a
// private-use character, numbers far from any epoch time in milliseconds or seconds. Only the
// template is searched for them, never a caller's values; a configured name that happened to
// contain one would fail the check against ElectroDB below, and ElectroDB would build instead.
const stringMarker = (index: number) => `\uE000${index}\uE000`;
const STRING_MARKER = /\uE000(\d+)\uE000/g;
const NUMBER_MARKER_BASE = 7_300_000_000_000;

function compileString(text: string, names: readonly string[]): Part {
  const pieces: Array<string | { name: string }> = [];
  let last = 0;
  for (const match of text.matchAll(STRING_MARKER)) {
    const name = names[Number(match[1])];
    if (name === undefined) continue;
    pieces.push(text.slice(last, match.index), { name });
    last = match.index + match[0].length;
  }
  if (pieces.length === 0) return () => text;
  pieces.push(text.slice(last));
  const [before, only, after] = pieces;
  if (pieces.length === 3 && before === '' && after === '' && typeof only === 'object') {
    return (values) => values[only.name];
  }
  return (values) => {
    let out = '';
    for (const piece of pieces)
      out += typeof piece === 'string' ? piece : String(values[piece.name]);
    return out;
  };
}

function compile(node: unknown, names: readonly string[]): Part {
  if (typeof node === 'string') return compileString(node, names);
  if (typeof node === 'number') {
    const name = names[node - NUMBER_MARKER_BASE];
    return name === undefined ? () => node : (values) => values[name];
  }
  if (Array.isArray(node)) {
    const items = node.map((item) => compile(item, names));
    return (values) => items.map((item) => item(values));
  }
  if (typeof node === 'object' && node !== null) {
    const fields = Object.entries(node).map(
      ([key, value]) => [key, compile(value, names)] as const,
    );
    return (values) => {
      const out: Record<string, unknown> = {};
      for (const [key, field] of fields) out[key] = field(values);
      return out;
    };
  }
  return () => node;
}

/**
 * The request `build` makes (an ElectroDB `params()` call), made from a template instead of
 * ElectroDB's clause chain on every call. ElectroDB's chain costs some 50–100 µs of CPU per
 * request; on a claim-and-store first execution of about 1 ms of client CPU that is what
 * separates two requests from the fastest competitor's two. The request's shape (key
 * templates, field names, identifiers, condition text) depends only on the entity, so ElectroDB
 * builds it once with marker values and each call fills in its own.
 *
 * The template must reproduce ElectroDB exactly: it is checked against `build` for each of the
 * `probes` (values of the same kinds as the calls will pass), and when it differs for any, or
 * ElectroDB rejects one, every call goes through `build` instead. ElectroDB's per-call checks
 * are the part a template skips, so a call whose values are not all of the probes' kinds goes
 * through `build` too, and meets them.
 */
export function requestTemplate<V extends RequestValues>(
  build: (values: V) => object,
  probes: readonly [V, ...V[]],
): (values: V) => object {
  const names = Object.keys(probes[0]);
  const markers = Object.fromEntries(
    names.map((name, index) => [
      name,
      typeof probes[0][name] === 'number' ? NUMBER_MARKER_BASE + index : stringMarker(index),
    ]),
  ) as unknown as V;
  const kinds = names.map((name) => [name, typeof probes[0][name]] as const);
  try {
    const fill = compile(build(markers), names) as (values: V) => object;
    if (!probes.every((probe) => isDeepStrictEqual(fill(probe), build(probe)))) return build;
    return (values) =>
      kinds.every(([name, kind]) => typeof values[name] === kind) ? fill(values) : build(values);
  } catch {
    return build;
  }
}
