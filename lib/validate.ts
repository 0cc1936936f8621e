// Readers for option objects and arguments: every failure is a TypeError (wrong type, unknown key)
// or a RangeError (a value out of range) whose message names the argument and what was expected.
import { Tensor, checkTensor, describe } from './tensor.js';
import { editDistance } from './nn/module.js';

/**
 * Checks that `opts` is an object (or undefined when `optional`) whose keys are all in `allowed`.
 * An unknown key gets a "did you mean" hint: the closest allowed key, or the camelCase name of a
 * snake_case key (`in_features` -> `inFeatures`). `example` (e.g. `{ tauMem: 20 }`) goes into the
 * message for a value that is not an object.
 */
export function checkOptions<T extends object>(
  opts: unknown,
  allowed: readonly string[],
  what: string,
  optional = true,
  example?: string,
): Partial<T> {
  if (opts === undefined && optional) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError(
      example === undefined
        ? `${what}: expected an options object, got ${describe(opts)}`
        : `${what}: options must be an object${example ? ` such as ${example}` : ''}, got ${describe(opts)}`,
    );
  for (const k of Object.keys(opts)) {
    if (allowed.includes(k)) continue;
    throw new TypeError(`${what}: unknown option '${k}'${didYouMean(k, allowed)}`);
  }
  return opts as Partial<T>;
}

/** " (did you mean 'x'?)" for the closest of `allowed`, or a list of them. */
export function didYouMean(key: string, allowed: readonly string[]): string {
  const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  if (camel !== key && allowed.includes(camel)) return ` (did you mean '${camel}'?)`;
  let best = '',
    bestD = Infinity;
  for (const a of allowed) {
    const d = editDistance(key.toLowerCase(), a.toLowerCase());
    if (d < bestD) [best, bestD] = [a, d];
  }
  if (best && bestD <= Math.max(2, Math.floor(key.length / 3))) return ` (did you mean '${best}'?)`;
  return allowed.length ? ` (expected ${allowed.map((a) => `'${a}'`).join(', ')})` : '';
}

/** A boolean option, or `dflt` when undefined. */
export function readBool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** A finite number option (with optional bounds), or `dflt` when undefined. */
export function readNumber(
  v: unknown,
  name: string,
  dflt: number | undefined,
  range: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {},
): number {
  if (v === undefined) {
    if (dflt === undefined) throw new TypeError(`${name} is required (a number)`);
    return dflt;
  }
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  const { min, max, minExclusive, maxExclusive } = range;
  const lo = min === undefined ? '' : `${minExclusive ? '>' : '>='} ${min}`;
  const hi = max === undefined ? '' : `${maxExclusive ? '<' : '<='} ${max}`;
  const expect = [lo, hi].filter(Boolean).join(' and ');
  const ok =
    Number.isFinite(v) &&
    (min === undefined || (minExclusive ? v > min : v >= min)) &&
    (max === undefined || (maxExclusive ? v < max : v <= max));
  if (!ok) throw new RangeError(`${name} must be a finite number${expect ? ` ${expect}` : ''}, got ${v}`);
  return v;
}

/** An integer option in [min, max], or `dflt` when undefined. */
export function readInt(v: unknown, name: string, dflt: number | undefined, min = -(2 ** 53), max = 2 ** 53): number {
  if (v === undefined) {
    if (dflt === undefined) throw new TypeError(`${name} is required (an integer)`);
    return dflt;
  }
  if (typeof v !== 'number') throw new TypeError(`${name} must be an integer, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

/** An integer or a pair [h, w] of integers (kernel sizes, strides, paddings), as a pair. */
export function readPair(v: unknown, name: string, dflt: number | undefined, min: number): [number, number] {
  if (Array.isArray(v)) {
    if (v.length !== 2)
      throw new RangeError(`${name} must be an integer or a pair [h, w], got an array of ${v.length}`);
    return [readInt(v[0], `${name}[0]`, undefined, min), readInt(v[1], `${name}[1]`, undefined, min)];
  }
  const k = readInt(v, name, dflt, min);
  return [k, k];
}

/**
 * A number, or a single-element Tensor, checked by `check` (described by `expect`, e.g. 'a finite
 * positive number'), rounded to float32.
 */
export function readScalar(v: unknown, name: string, check: (x: number) => boolean, expect: string): number {
  let x: number;
  if (typeof v === 'number') x = v;
  else if (v instanceof Tensor) {
    const d = checkTensor(v, name).toFloat32Array();
    if (d.length !== 1) throw new RangeError(`${name} must be a single value, got ${d.length} elements`);
    x = d[0]!;
  } else throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(x) || !check(x)) throw new RangeError(`${name} must be ${expect}, got ${x}`);
  return Math.fround(x);
}

/**
 * A float32 tensor (a copy on the host) from a number (a 0-d tensor) or a Tensor, every element
 * finite and accepted by `check` (described by `expect`).
 */
export function readTensor(v: unknown, name: string, check: (x: number) => boolean, expect: string): Tensor {
  let t: Tensor;
  if (typeof v === 'number') t = Tensor.from([v], []);
  else if (v instanceof Tensor) t = checkTensor(v, name).to('cpu');
  else throw new TypeError(`${name} must be a number or a Tensor, got ${describe(v)}`);
  const d = t.toFloat32Array();
  if (d.length === 0) throw new RangeError(`${name} must not be empty`);
  for (let k = 0; k < d.length; ++k)
    if (!Number.isFinite(d[k]!) || !check(d[k]!))
      throw new RangeError(`${name} must be ${expect}, got ${d[k]} at element ${k}`);
  return t;
}

/** A positive integer (a count, a size), or `dflt` when undefined (and null, when `dflt` is null). */
export function readCount<D extends number | null>(v: unknown, name: string, dflt: D): number | D {
  if (v === undefined || (v === null && dflt === null)) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${name} must be a positive integer, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}
