// loadStateDict for containers whose children are not all Modules (the neuron layers keep their
// own state dicts): their entries are checked here, with the container's full key names, before
// anything is written, so that one bad key leaves the whole network unchanged.
import { Tensor, checkTensor, describe } from '../tensor.js';
import { Module, sameShape, type LoadStateDictOptions, type ModuleLike, type StateDict } from './module.js';

type Dict = Record<string, Tensor | number>;

/** Checks loadStateDict's arguments as Module does; returns `strict`. */
export function readLoadOptions(dict: unknown, opts: LoadStateDictOptions | undefined): boolean {
  const what = 'loadStateDict';
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict) || dict instanceof Tensor)
    throw new TypeError(`${what}: dict must be an object of Tensors, got ${describe(dict)}`);
  if (opts === undefined) return true;
  if (opts === null || typeof opts !== 'object')
    throw new TypeError(`${what}: options must be an object such as { strict: false }`);
  for (const k of Object.keys(opts))
    if (k !== 'strict') throw new TypeError(`${what}: unknown option '${k}' (expected 'strict')`);
  if (opts.strict !== undefined && typeof opts.strict !== 'boolean')
    throw new TypeError(`${what}: strict must be a boolean, got ${describe(opts.strict)}`);
  return opts.strict ?? true;
}

/** The descendants that are not Modules, with their dotted key prefixes ('1.', '3.0.'). */
export function plainDescendants(root: Module, prefix = ''): [string, ModuleLike][] {
  const out: [string, ModuleLike][] = [];
  for (const [name, c] of root.namedChildren()) {
    if (c instanceof Module) out.push(...plainDescendants(c, `${prefix}${name}.`));
    else out.push([`${prefix}${name}.`, c]);
  }
  return out;
}

const STATE_KEYS = new Set(['v_mem', 'i_syn']);
const POSITIVE_KEYS = new Set(['tau_mem', 'tau_syn', 'spike_threshold']);

/**
 * Checks the entries meant for one non-Module child (a neuron layer) as its loadStateDict
 * would, naming full keys: unknown keys, missing keys (strict), shapes, finiteness, signs.
 */
function validatePlain(prefix: string, child: ModuleLike, part: Dict, strict: boolean): void {
  const what = 'loadStateDict';
  const own = child.stateDict ? child.stateDict() : {};
  const ownKeys = Object.keys(own);
  const shapes: Record<string, number[]> = {};
  for (const [k, raw] of Object.entries(part)) {
    const key = prefix + k;
    const ref = own[k];
    if (!ref) {
      if (!strict) continue;
      throw new TypeError(
        `${what}: unexpected key '${key}' (that layer has ${ownKeys.map((x) => `'${prefix}${x}'`).join(', ')})`,
      );
    }
    const t = typeof raw === 'number' ? Tensor.from([raw], []) : checkTensor(raw, `${what}: '${key}'`);
    shapes[k] = t.shape;
    if (STATE_KEYS.has(k)) {
      if (t.rank < 1)
        throw new RangeError(
          `${what}: '${key}' has shape [], expected a state with a batch dimension [B, ...neurons] (or [0])`,
        );
      continue;
    }
    if (!sameShape(t.shape, ref.shape))
      throw new RangeError(`${what}: '${key}' has shape [${t.shape.join(', ')}], expected [${ref.shape.join(', ')}]`);
    const data = t.toFloat32Array();
    for (let q = 0; q < data.length; ++q) {
      if (!Number.isFinite(data[q]!))
        throw new RangeError(`${what}: '${key}' must be finite, got ${data[q]} at element ${q}`);
      if (POSITIVE_KEYS.has(k) && !(data[q]! > 0))
        throw new RangeError(`${what}: '${key}' must be positive, got ${data[q]} at element ${q}`);
    }
  }
  if (strict) {
    const missing = ownKeys.filter((k) => !(k in part)).map((k) => `'${prefix}${k}'`);
    if (missing.length) throw new TypeError(`${what}: missing key(s) ${missing.join(', ')}`);
  }
  const v = shapes.v_mem,
    i = shapes.i_syn;
  if (
    v &&
    i &&
    v.length &&
    i.length &&
    v.some((d) => d === 0) === false &&
    i.some((d) => d === 0) === false &&
    !sameShape(v, i)
  )
    throw new RangeError(
      `${what}: '${prefix}v_mem' [${v.join(', ')}] and '${prefix}i_syn' [${i.join(', ')}] must have the same shape`,
    );
}

/** Splits a dict into the entries of each non-Module descendant and the rest (for Module's loader). */
function split(dict: Dict, plains: [string, ModuleLike][]): { rest: Dict; parts: Dict[] } {
  const rest: Dict = {};
  const parts = plains.map((): Dict => ({}));
  for (const [key, v] of Object.entries(dict)) {
    const j = plains.findIndex(([p]) => key.startsWith(p));
    if (j < 0) Object.defineProperty(rest, key, { value: v, enumerable: true, writable: true, configurable: true });
    else
      Object.defineProperty(parts[j]!, key.slice(plains[j]![0].length), {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return { rest, parts };
}

/**
 * Loads `dict` into `root`: the Module part through `loadModules` (Module's own atomic loader),
 * the non-Module descendants through their loadStateDict, after checking every entry of theirs.
 * If a write still fails, what was written is restored from a snapshot.
 */
export function loadWithPlainChildren(
  root: Module,
  dict: Dict,
  strict: boolean,
  loadModules: (d: Dict, strict: boolean) => void,
): void {
  const plains = plainDescendants(root);
  const { rest, parts } = split(dict, plains);
  plains.forEach(([p, c], j) => validatePlain(p, c, parts[j]!, strict));
  // Module's loader checks its part completely before it writes: if it refuses, nothing changed.
  const snapshot: StateDict = root.stateDict();
  loadModules(rest, strict);
  const loadInto = (c: ModuleLike, d: Dict, s: boolean): void => {
    const l = c as unknown as { loadStateDict?(d: Dict, o: LoadStateDictOptions): void };
    if (typeof l.loadStateDict === 'function') l.loadStateDict(d, { strict: s });
  };
  try {
    plains.forEach(([, c], j) => loadInto(c, parts[j]!, strict));
  } catch (e) {
    // not expected after the checks above; restore what was written
    const back = split(snapshot, plains);
    try {
      loadModules(back.rest, false);
      plains.forEach(([, c], j) => loadInto(c, back.parts[j]!, false));
    } catch {
      // best effort: the error below is the one that matters
    }
    throw e;
  }
}
