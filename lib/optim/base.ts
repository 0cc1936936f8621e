// The common part of the optimizers: the parameter list, per-parameter state tensors kept on the
// parameter's device (updated in place by the native kernels, no host round trip), zeroGrad and
// the state dict.
import { Tensor, checkTensor, describe } from '../tensor.js';
import { sameShape } from '../nn/module.js';
import { readNumber } from '../validate.js';

/** Updates parameters in place from their `.grad`. */
export interface Optimizer {
  /** One update of every parameter that has a gradient (parameters without one are skipped). */
  step(): void;
  /** Drops every gradient (`p.grad = null`, PyTorch's default), or zeros it with `{ setToNone: false }`. */
  zeroGrad(opts?: ZeroGradOptions): void;
  /** The optimizer's state (copies), for `loadStateDict`. */
  stateDict(): OptimizerStateDict;
  /** Restores a state saved by `stateDict()`: training then resumes bit-identically. */
  loadStateDict(dict: OptimizerStateDict): void;
}

/** Options of `zeroGrad`. */
export interface ZeroGradOptions {
  /** true (default): `p.grad = null`; false: the gradients are filled with zeros. */
  setToNone?: boolean;
}

/**
 * An optimizer's state as PyTorch's `optimizer.state_dict()`: `state[i]` holds the buffers of the
 * i-th parameter (absent before its first update) and `paramGroups[0]` the hyperparameters and
 * the parameter indices.
 */
export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  paramGroups: Array<Record<string, number | boolean | number[]>>;
}

/** The parameters to optimize: the Tensors of `params` with `requiresGrad` (duplicates rejected). */
export function checkParams(params: unknown, what: string): Tensor[] {
  if (!Array.isArray(params))
    throw new TypeError(
      `${what}: params must be an array of Tensors (e.g. layer.parameters()), got ${describe(params)}`,
    );
  const seen = new Set<Tensor>();
  params.forEach((p, k) => {
    checkTensor(p, `${what}: params[${k}]`);
    if (seen.has(p)) throw new RangeError(`${what}: params[${k}] appears more than once`);
    seen.add(p);
  });
  return (params as Tensor[]).filter((p) => p.requiresGrad);
}

/** The learning rate: a finite number > 0 (`dflt` when undefined). */
export function readLr(v: unknown, what: string, dflt?: number): number {
  return readNumber(v, `${what}: lr`, dflt, { min: 0, minExclusive: true });
}

/** The gradient of `p` when usable for an update (null: skip the parameter); throws when it does not fit. */
export function gradOf(p: Tensor, k: number, what: string): Tensor | null {
  const g = p.grad;
  if (g === null || g === undefined) return null;
  if (!(g instanceof Tensor) || g.disposed)
    throw new TypeError(`${what}: the .grad of parameter ${k} must be a live Tensor`);
  if (!sameShape(g.shape, p.shape))
    throw new RangeError(
      `${what}: the .grad of parameter ${k} has shape [${g.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`,
    );
  if (g.device !== p.device)
    throw new TypeError(`${what}: the .grad of parameter ${k} is on ${g.device}, the parameter on ${p.device}`);
  return g;
}

/** A state tensor of `p` on p's device (zeros), moved there if the parameter moved. */
export function stateTensor(cur: Tensor | undefined, p: Tensor): Tensor {
  if (!cur) return Tensor.zeros(p.shape, { device: p.device });
  if (cur.device !== p.device) cur._relocate(p.device);
  return cur;
}

/** The base of SGD, Adam and AdamW: per-parameter state and its (de)serialisation. */
export abstract class OptimizerBase implements Optimizer {
  protected readonly params: Tensor[];
  /** Per parameter: named state tensors and numbers (absent before the first update). */
  protected state: Map<number, Record<string, Tensor | number>> = new Map();
  readonly #name: string;

  protected constructor(params: unknown, name: string) {
    this.#name = name;
    this.params = checkParams(params, name);
  }

  abstract step(): void;

  /** The hyperparameters, as `paramGroups[0]` (without `params`). */
  protected abstract hyper(): Record<string, number | boolean>;

  /** The names and kinds of the per-parameter state entries (tensors or numbers). */
  protected abstract stateKeys(): Record<string, 'tensor' | 'count'>;

  /** The gradients of every parameter, checked before anything changes (null: no gradient). */
  protected grads(): (Tensor | null)[] {
    return this.params.map((p, k) => gradOf(p, k, `${this.#name}.step`));
  }

  zeroGrad(opts?: ZeroGradOptions): void {
    let setToNone = true;
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object')
        throw new TypeError(`${this.#name}.zeroGrad: options must be an object such as { setToNone: false }`);
      for (const k of Object.keys(opts))
        if (k !== 'setToNone')
          throw new TypeError(`${this.#name}.zeroGrad: unknown option '${k}' (expected 'setToNone')`);
      if (opts.setToNone !== undefined && typeof opts.setToNone !== 'boolean')
        throw new TypeError(`${this.#name}.zeroGrad: setToNone must be a boolean, got ${describe(opts.setToNone)}`);
      setToNone = opts.setToNone ?? true;
    }
    for (const p of this.params) {
      if (setToNone) p.grad = null;
      else p.grad?._fill(0);
    }
  }

  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    for (const [k, s] of this.state) {
      const copy: Record<string, Tensor | number> = {};
      for (const [name, v] of Object.entries(s)) copy[name] = v instanceof Tensor ? v.clone() : v;
      state[k] = copy;
    }
    return { state, paramGroups: [{ ...this.hyper(), params: this.params.map((_, k) => k) }] };
  }

  loadStateDict(dict: OptimizerStateDict): void {
    const what = `${this.#name}.loadStateDict`;
    if (dict === null || typeof dict !== 'object')
      throw new TypeError(`${what}: dict must be an object from stateDict(), got ${describe(dict)}`);
    const { state, paramGroups } = dict;
    if (state === null || typeof state !== 'object') throw new TypeError(`${what}: 'state' must be an object`);
    if (!Array.isArray(paramGroups) || paramGroups.length !== 1)
      throw new TypeError(`${what}: 'paramGroups' must be an array of one group`);
    const group = paramGroups[0]!;
    const ids = group.params;
    if (!Array.isArray(ids) || ids.length !== this.params.length)
      throw new RangeError(
        `${what}: paramGroups[0].params must list ${this.params.length} parameters, got ${Array.isArray(ids) ? ids.length : describe(ids)}`,
      );
    const hyper = this.hyper();
    for (const [key, v] of Object.entries(group)) {
      if (key === 'params') continue;
      if (!(key in hyper)) throw new TypeError(`${what}: unknown hyperparameter 'paramGroups[0].${key}'`);
      if (typeof v !== typeof hyper[key])
        throw new TypeError(`${what}: 'paramGroups[0].${key}' must be a ${typeof hyper[key]}, got ${describe(v)}`);
    }
    const keys = this.stateKeys();
    const next = new Map<number, Record<string, Tensor | number>>();
    for (const [sk, entry] of Object.entries(state)) {
      const k = Number(sk);
      if (!Number.isInteger(k) || k < 0 || k >= this.params.length)
        throw new RangeError(`${what}: state key '${sk}' is not a parameter index in [0, ${this.params.length})`);
      const p = this.params[k]!;
      if (entry === null || typeof entry !== 'object') throw new TypeError(`${what}: 'state.${sk}' must be an object`);
      const out: Record<string, Tensor | number> = {};
      for (const [name, kind] of Object.entries(keys)) {
        const v = (entry as Record<string, unknown>)[name];
        const full = `state.${sk}.${name}`;
        if (v === undefined) throw new TypeError(`${what}: missing '${full}'`);
        if (kind === 'count') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
            throw new RangeError(`${what}: '${full}' must be a non-negative integer, got ${String(v)}`);
          out[name] = v;
        } else {
          const t = checkTensor(v, `${what}: '${full}'`);
          if (!sameShape(t.shape, p.shape))
            throw new RangeError(
              `${what}: '${full}' has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
            );
          out[name] = t.to(p.device);
        }
      }
      for (const name of Object.keys(entry))
        if (!(name in keys)) throw new TypeError(`${what}: unexpected key '${`state.${sk}.${name}`}'`);
      next.set(k, out);
    }
    // every check passed: write
    const { params: _ids, ...values } = group;
    this.setHyper(values as Record<string, number | boolean>);
    this.state = next;
  }

  /** Applies loaded hyperparameters (already type-checked). */
  protected abstract setHyper(h: Record<string, number | boolean>): void;
}
