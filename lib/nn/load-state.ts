// Module.loadStateDict's machinery: the load targets a module exposes (one per parameter and
// buffer, keyed by full dotted name), the check of the arguments, and the plan that checks every
// value before anything is written. Module gathers the targets (its registries are private) and
// runs the plan's hooks and writes.
import { Tensor, checkTensor, describe } from '../tensor.js';
import type { BufferSlot, LoadStateDictOptions } from './module.js';
import { sameShape } from './shape.js';

/** One entry a state dict can load into: a parameter or a buffer of `owner`. */
export interface LoadTarget<O> {
  owner: O;
  /** The entry's name inside its owner. */
  name: string;
  required: boolean;
  /** Checks `value` for `key`; returns the write to do once every key passed. */
  prepare(value: Tensor, key: string): () => void;
}

/** The values accepted for one module, keyed by local name (with their full key for messages). */
export type LoadValues = Map<string, { value: Tensor; key: string }>;

/** What a load does once every value passed: the writes, and the values per module touched. */
export interface LoadPlan<O> {
  writes: (() => void)[];
  touched: Map<O, LoadValues>;
}

/** The target of a parameter: same shape, finite values, then the parameter's own check. */
export function parameterTarget<O>(
  owner: O,
  name: string,
  t: Tensor,
  check: ((value: Float32Array, shape: number[], key: string) => void) | undefined,
): LoadTarget<O> {
  return {
    owner,
    name,
    required: true,
    prepare: (value, key) => {
      if (!sameShape(value.shape, t.shape))
        throw new RangeError(
          `loadStateDict: '${key}' has shape [${value.shape.join(', ')}], expected [${t.shape.join(', ')}]`,
        );
      const data = value.toFloat32Array();
      for (let q = 0; q < data.length; ++q)
        if (!Number.isFinite(data[q]!))
          throw new RangeError(`loadStateDict: '${key}' must be finite, got ${data[q]} at element ${q}`);
      check?.(data, value.shape, key);
      return () => t._writeHost(data);
    },
  };
}

/** The target of a buffer: the slot's check, then a copy on `device`. Absent buffers are optional. */
export function bufferTarget<O>(owner: O, name: string, b: BufferSlot, device: string): LoadTarget<O> {
  return {
    owner,
    name,
    required: b.get() !== null,
    prepare: (value, key) => {
      b.check?.(value, key);
      const copy = value.to(device);
      return () => b.set(copy, key);
    },
  };
}

/** Checks loadStateDict's `dict` and `opts`; returns `strict`. */
export function readLoadArgs(dict: unknown, opts: LoadStateDictOptions | undefined, what: string): boolean {
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict))
    throw new TypeError(`${what}: dict must be an object of Tensors, got ${describe(dict)}`);
  let strict = true;
  if (opts !== undefined) {
    if (opts === null || typeof opts !== 'object')
      throw new TypeError(`${what}: options must be an object such as { strict: false }`);
    for (const k of Object.keys(opts))
      if (k !== 'strict') throw new TypeError(`${what}: unknown option '${k}' (expected 'strict')`);
    if (opts.strict !== undefined && typeof opts.strict !== 'boolean')
      throw new TypeError(`${what}: strict must be a boolean, got ${describe(opts.strict)}`);
    strict = opts.strict ?? true;
  }
  return strict;
}

/**
 * Checks every entry of `dict` against `targets` (unknown keys, values, missing keys with
 * `strict`) and returns the writes to do; nothing is written here.
 */
export function planLoad<O>(
  dict: Record<string, Tensor | number>,
  targets: Map<string, LoadTarget<O>>,
  strict: boolean,
  what: string,
): LoadPlan<O> {
  const writes: (() => void)[] = [];
  const touched = new Map<O, LoadValues>();
  for (const [key, raw] of Object.entries(dict)) {
    const target = targets.get(key);
    if (!target) {
      if (strict) throw new TypeError(`${what}: unexpected key '${key}'${hint(key, [...targets.keys()])}`);
      continue;
    }
    const value = typeof raw === 'number' ? Tensor.from([raw], []) : checkTensor(raw, `${what}: '${key}'`);
    writes.push(target.prepare(value, key));
    if (!touched.has(target.owner)) touched.set(target.owner, new Map());
    touched.get(target.owner)!.set(target.name, { value, key });
  }
  if (strict) {
    const missing = [...targets.entries()].filter(([k, t]) => t.required && !(k in dict)).map(([k]) => `'${k}'`);
    if (missing.length) throw new TypeError(`${what}: missing key(s) ${missing.join(', ')}`);
  }
  return { writes, touched };
}

/** " (did you mean 'x'?)" for the closest known key, or ''. */
function hint(key: string, known: string[]): string {
  if (known.length === 0) return ' (the module has no entries)';
  let best = '',
    bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, key.length / 3)
    ? ` (did you mean '${best}'?)`
    : ` (expected one of ${known.map((k) => `'${k}'`).join(', ')})`;
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; ++i) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; ++j) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
