// The base of every layer, as PyTorch's nn.Module: named parameters, named buffers and named
// child modules, registered by the layer; everything else (parameter lists, state dicts,
// train/eval, device moves, zeroGrad, repr) is derived from them here, once, for every layer.
// Nothing in this file knows a subclass.
import { resolveDevice } from '../backend.js';
import { Tensor, checkTensor, describe } from '../tensor.js';

/** Options of `loadStateDict`. */
export interface LoadStateDictOptions {
  /** Unknown and missing keys are errors (default true); with false they are ignored. */
  strict?: boolean;
}

/** A state dict: dotted names (as PyTorch's, e.g. `0.weight`, `1.tau_mem`) to tensors. */
export type StateDict = Record<string, Tensor>;

/**
 * What every module can do with its input and output gradients. Sequential accepts any object
 * with this shape as a child (`forward`, `backward` and the Module bookkeeping).
 */
export interface ModuleLike {
  forward(input: Tensor, opts?: object): Tensor;
  backward(gradOutput: Tensor, opts?: object): Tensor;
  forwardAsync?(input: Tensor, opts?: object): Promise<Tensor>;
  backwardAsync?(gradOutput: Tensor, opts?: object): Promise<Tensor>;
  namedParameters?(): [string, Tensor][];
  stateDict?(): StateDict;
  train?(mode?: boolean): unknown;
  to?(device: string): unknown;
  zeroGrad?(): void;
  resetStates?(): void;
  detachStates?(): void;
}

/** A buffer that the layer computes or replaces itself (e.g. a neuron state of varying shape). */
export interface BufferSlot {
  /** The current value, or null when the buffer is absent (it is then left out of state dicts). */
  get(): Tensor | null;
  /** Replaces the value (after `check` accepted it); `key` is the full dotted name. */
  set(value: Tensor, key: string): void;
  /** Throws a TypeError/RangeError naming `key` when `value` cannot be loaded. */
  check?(value: Tensor, key: string): void;
}

type ParamEntry = { tensor: Tensor | null; check?: (value: Float32Array, shape: number[], key: string) => void };

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * Base class of every layer. A layer registers its parameters (`registerParameter`), buffers
 * (`registerBuffer`) and children (`registerModule`); the base derives `parameters()`,
 * `namedParameters()`, `stateDict()`, `loadStateDict()`, `train()`/`eval()`, `to()`,
 * `zeroGrad()` and `toString()` from them.
 */
export abstract class Module implements ModuleLike {
  readonly #params = new Map<string, ParamEntry>();
  readonly #buffers = new Map<string, BufferSlot>();
  readonly #children = new Map<string, ModuleLike>();
  #training = true;
  #device = 'cpu';

  /** The layer's class name as PyTorch/sinabs print it, e.g. 'Linear'. */
  get typeName(): string {
    return this.constructor.name;
  }

  // ---- registration (for subclasses) ---------------------------------------------------------

  /**
   * Registers a parameter under `name` (null: declared but absent, as torch's `bias=None`).
   * `check` validates a value before `loadStateDict` writes it (throw a RangeError naming `key`).
   */
  protected registerParameter(
    name: string,
    tensor: Tensor | null,
    check?: (value: Float32Array, shape: number[], key: string) => void,
  ): void {
    this.#params.set(name, { tensor, check });
  }

  /** Registers a buffer: a Tensor held by the base, or a slot the layer manages itself. */
  protected registerBuffer(name: string, buffer: Tensor | null | BufferSlot): void {
    if (buffer === null || buffer instanceof Tensor) {
      let value = buffer;
      this.#buffers.set(name, {
        get: () => value,
        set: (v) => {
          value = v;
        },
      });
    } else this.#buffers.set(name, buffer);
  }

  /** Registers a child module under `name` (Sequential uses '0', '1', ...). */
  protected registerModule(name: string, module: ModuleLike): void {
    this.#children.set(name, module);
  }

  /** The registered parameter `name` (null when absent). */
  protected getParameter(name: string): Tensor | null {
    return this.#params.get(name)?.tensor ?? null;
  }

  /** Replaces a registered parameter's tensor. */
  protected setParameter(name: string, tensor: Tensor | null): void {
    const e = this.#params.get(name);
    if (!e) throw new Error(`internal: no parameter '${name}'`);
    e.tensor = tensor;
  }

  // ---- hooks (for subclasses) ---------------------------------------------------------------

  /** Called by `to()` after parameters and buffers moved: move what else lives on the device. */
  protected _moveExtra(_device: string): void {}

  /** Called after `loadStateDict` changed this module (e.g. to cut pending gradient paths). */
  protected _afterLoad(): void {}

  /**
   * Called by `loadStateDict` once every value for this module passed its own check and before
   * anything is written, with the values keyed by local name (and their full key for messages):
   * checks that involve several entries (e.g. two states of one shape). Throw to reject the load.
   */
  protected _checkLoad(_values: ReadonlyMap<string, { value: Tensor; key: string }>): void {}

  /** Throws when the module cannot change now (e.g. an async call is running). */
  protected _assertIdle(_what: string): void {}

  /** The text inside the parentheses of `toString()`, e.g. `in_features=2, out_features=3`. */
  protected extraRepr(): string {
    return '';
  }

  // ---- derived API ---------------------------------------------------------------------------

  /** Where the module computes: 'cpu' or 'cuda:N'. */
  get device(): string {
    return this.#device;
  }

  /** True in training mode (forwards keep what their backward needs). */
  get training(): boolean {
    return this.#training;
  }

  /** The direct children as [name, module] pairs, in registration order. */
  namedChildren(): [string, ModuleLike][] {
    return [...this.#children];
  }

  /** The direct children. */
  children(): ModuleLike[] {
    return [...this.#children.values()];
  }

  /** This module and every descendant with dotted names ('' for this one), depth first. */
  namedModules(prefix = ''): [string, ModuleLike][] {
    const out: [string, ModuleLike][] = [[prefix, this]];
    for (const [name, child] of this.#children) {
      const full = prefix ? `${prefix}.${name}` : name;
      if (child instanceof Module) out.push(...child.namedModules(full));
      else out.push([full, child]);
    }
    return out;
  }

  /** [name, parameter] pairs with dotted names for children (`0.weight`, `1.tau_mem`). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, e] of this.#params) if (e.tensor) out.push([prefix + name, e.tensor]);
    for (const [name, child] of this.#children) {
      const p = `${prefix}${name}.`;
      if (child instanceof Module) out.push(...child.namedParameters(p));
      else if (child.namedParameters) for (const [k, t] of child.namedParameters()) out.push([p + k, t]);
    }
    return out;
  }

  /** Every parameter (also those with `requiresGrad` false, e.g. spike thresholds). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** [name, buffer] pairs with dotted names. Absent buffers are left out. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.#buffers) {
      const v = b.get();
      if (v) out.push([prefix + name, v]);
    }
    for (const [name, child] of this.#children)
      if (child instanceof Module) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /**
   * Parameters and buffers as copies, keyed as PyTorch's `state_dict()`: per module its
   * parameters, then its buffers, then its children's entries.
   */
  stateDict(): StateDict {
    const d: StateDict = {};
    this.#collect('', d);
    return d;
  }

  #collect(prefix: string, d: StateDict): void {
    for (const [name, e] of this.#params) if (e.tensor) d[prefix + name] = e.tensor.clone();
    for (const [name, b] of this.#buffers) {
      const v = b.get();
      if (v) d[prefix + name] = v.clone();
    }
    for (const [name, child] of this.#children) {
      const p = `${prefix}${name}.`;
      if (child instanceof Module) child.#collect(p, d);
      else if (child.stateDict) for (const [k, t] of Object.entries(child.stateDict())) d[p + k] = t;
    }
  }

  /**
   * Loads parameters and buffers saved by `stateDict()` (or by PyTorch, with the same keys). Every
   * value is checked before anything is written: a bad key, shape or value throws a
   * TypeError/RangeError that names the key, and leaves the module unchanged.
   */
  loadStateDict(dict: Record<string, Tensor | number>, opts?: LoadStateDictOptions): void {
    const what = 'loadStateDict';
    this.#assertIdleDeep(what);
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
    const targets = new Map<string, LoadTarget>();
    this.#targets('', targets);
    const writes: (() => void)[] = [];
    const touched = new Map<Module, Map<string, { value: Tensor; key: string }>>();
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
    for (const [m, values] of touched) m._checkLoad(values);
    for (const w of writes) w();
    for (const m of touched.keys()) m._afterLoad();
  }

  #targets(prefix: string, out: Map<string, LoadTarget>): void {
    for (const [name, e] of this.#params) {
      const t = e.tensor;
      if (!t) continue;
      out.set(prefix + name, {
        owner: this,
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
          e.check?.(data, value.shape, key);
          return () => t._writeHost(data);
        },
      });
    }
    for (const [name, b] of this.#buffers) {
      out.set(prefix + name, {
        owner: this,
        name,
        required: b.get() !== null,
        prepare: (value, key) => {
          b.check?.(value, key);
          const copy = value.to(this.#device);
          return () => b.set(copy, key);
        },
      });
    }
    for (const [name, child] of this.#children) if (child instanceof Module) child.#targets(`${prefix}${name}.`, out);
  }

  /** Training mode for this module and every descendant. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new TypeError(`train: mode must be a boolean, got ${describe(mode)}`);
    this.#assertIdleDeep(mode ? 'train' : 'eval');
    this.#setTraining(mode);
    return this;
  }

  #setTraining(mode: boolean): void {
    this.#training = mode;
    this._onTrainingChange(mode);
    for (const c of this.#children.values()) {
      if (c instanceof Module) c.#setTraining(mode);
      else c.train?.(mode);
    }
  }

  /** Called when train()/eval() changes the mode of this module. */
  protected _onTrainingChange(_mode: boolean): void {}

  /** Inference mode: forwards keep nothing for a backward. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves every parameter (with its gradient), buffer and child to `device` ('cpu', 'cuda',
   * 'cuda:N', 'auto'), in place: tensors keep their identity, so an optimizer made before the move
   * keeps working.
   */
  to(device: string): this {
    this.#assertIdleDeep('to');
    const d = resolveDevice(device, `${this.typeName}.to: device`);
    this.#moveTo(d);
    return this;
  }

  #moveTo(d: string): void {
    for (const e of this.#params.values()) e.tensor?._relocate(d);
    for (const [name, b] of this.#buffers) {
      const v = b.get();
      if (v && v.device !== d) b.set(v.to(d), name);
    }
    this._moveExtra(d);
    this.#device = d;
    for (const c of this.#children.values()) {
      if (c instanceof Module) c.#moveTo(d);
      else c.to?.(d);
    }
  }

  /** Sets the device a subclass computes on without moving anything (constructors). */
  protected _setDevice(device: string): void {
    this.#device = device;
  }

  #assertIdleDeep(what: string): void {
    this._assertIdle(what);
    for (const c of this.#children.values()) if (c instanceof Module) c.#assertIdleDeep(what);
  }

  /** Zeros every parameter gradient (the tensors are kept) and calls each module's hook. */
  zeroGrad(): void {
    this.#assertIdleDeep('zeroGrad');
    this.#zeroGradDeep();
  }

  #zeroGradDeep(): void {
    for (const e of this.#params.values()) e.tensor?.grad?._fill(0);
    this._onZeroGrad();
    for (const c of this.#children.values()) {
      if (c instanceof Module) c.#zeroGradDeep();
      else c.zeroGrad?.();
    }
  }

  /** Called by zeroGrad() (sinabs' zero_grad also detaches neuron states). */
  protected _onZeroGrad(): void {}

  /** Zeros the states of every stateful descendant and cuts their gradient paths. */
  resetStates(): void {
    for (const c of this.#children.values()) c.resetStates?.();
  }

  /** Keeps the states of every stateful descendant but cuts their gradient paths. */
  detachStates(): void {
    for (const c of this.#children.values()) c.detachStates?.();
  }

  /** Runs the module; subclasses implement it. */
  abstract forward(input: Tensor, opts?: object): Tensor;

  /** Backward of the most recent pending forward: dL/d(input) from dL/d(output). */
  abstract backward(gradOutput: Tensor, opts?: object): Tensor;

  /** A PyTorch-like repr: `Linear(in_features=2, out_features=3, bias=True)`, children indented. */
  toString(): string {
    const extra = this.extraRepr();
    if (this.#children.size === 0) return `${this.typeName}(${extra})`;
    const lines = [...this.#children].map(([name, c]) => `  (${name}): ${String(c).split('\n').join('\n  ')}`);
    return `${this.typeName}(${extra ? `${extra}\n` : '\n'}${lines.join('\n')}\n)`;
  }
}

interface LoadTarget {
  owner: Module;
  /** The entry's name inside its owner. */
  name: string;
  required: boolean;
  /** Checks `value` for `key`; returns the write to do once every key passed. */
  prepare(value: Tensor, key: string): () => void;
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
