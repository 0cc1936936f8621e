// A chain of modules, as torch.nn.Sequential: children '0', '1', ... (state-dict keys
// `0.weight`, `1.tau_mem`, ...), forward in order, backward in reverse. A call is checked as a
// whole before any child runs (devices, and every layer's shape where the layer can tell it),
// so that a call refused halfway leaves every layer as it was; an error from a child names the
// layer index and type and keeps its class and `code`.
import { ErrorCodes, SpikelayersError, codedError } from '../errors.js';
import { Tensor, checkTensor, describe } from '../tensor.js';
import { inferOutputShape, type ShapeAware } from './infer.js';
import { Module, type LoadStateDictOptions, type ModuleLike } from './module.js';
import { readInputGrad, type InputGradOptions } from './backward-options.js';
import { loadWithPlainChildren, plainDescendants, readLoadOptions } from './load.js';
import { inLayer, isModuleLike, typeNameOf } from './child.js';
import { fmt } from './shape.js';

/** A function called with each child's output during a forward (see `registerForwardHook`). */
export type ForwardHook = (output: Tensor, index: number, module: ModuleLike) => void;

interface PendingCall {
  input: number[];
  output: number[];
}

/** Set by `Sequential.fromNamed` for the one constructor call it makes: the children's names. */
let namesForNext: readonly string[] | null = null;

/**
 * torch.nn.Sequential: runs its children in order. Children are registered as '0', '1', ...,
 * so `stateDict()` keys are those of PyTorch (`0.weight`, `1.tau_mem`, `1.v_mem`, ...) and a
 * PyTorch/sinabs state dict (e.g. from a safetensors file) loads with `loadStateDict`.
 *
 * - `forward(x)` runs every child; in training mode each child keeps what its backward needs.
 * - `backward(g)` runs the children's backwards in reverse, each consuming its most recent
 *   pending forward: several forwards, then their backwards in reverse order, work as for a
 *   single layer (neuron state gradients flow from a later call into the earlier one).
 * - Before any child runs, the call is checked: the input's device against every child's, and
 *   the shape through every child that can tell its output shape (LIF and its siblings, the
 *   reshaping layers, nested Sequentials and any child with `outputShape`). A refused call
 *   changes nothing. Errors are rethrown with `Sequential layer i (Type): ` in front, same
 *   class and `code`.
 *
 * Any object with `forward` and `backward` (a {@link ModuleLike}) can be a child.
 */
export class Sequential extends Module implements ShapeAware {
  readonly #layers: ModuleLike[];
  /** Internal (a parent Sequential): `backward` takes {@link InputGradOptions}. */
  readonly _takesBackwardOptions = true;
  #pending: PendingCall[] = [];
  readonly #hooks = new Set<ForwardHook>();
  #inflight = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(...modules: ModuleLike[]) {
    super();
    const names = namesForNext;
    namesForNext = null;
    modules.forEach((m, i) => {
      if (!isModuleLike(m))
        throw new TypeError(
          `Sequential: module ${i} must be a module with forward() and backward(), got ${describe(m)}`,
        );
      this.registerModule(names ? names[i]! : String(i), m);
    });
    this.#layers = modules.slice();
    const devices = new Set(
      modules.map((m) => (m as { device?: unknown }).device).filter((d) => typeof d === 'string'),
    );
    if (devices.size === 1) this._setDevice([...devices][0] as string);
  }

  /**
   * A Sequential whose children have the given names instead of '0', '1', ...: the names become
   * the `stateDict()` key prefixes (e.g. `model.v_mem`) and what `toString` shows. The children
   * still run in the order given, and `at(i)` indexes them by position. Names must be distinct,
   * non-empty strings without a '.'.
   */
  static fromNamed(children: ReadonlyArray<readonly [string, ModuleLike]>): Sequential {
    if (!Array.isArray(children))
      throw new TypeError(`Sequential.fromNamed: expected an array of [name, module] pairs, got ${describe(children)}`);
    const seen = new Set<string>();
    children.forEach((c, i) => {
      if (!Array.isArray(c) || c.length !== 2)
        throw new TypeError(`Sequential.fromNamed: entry ${i} must be a [name, module] pair, got ${describe(c)}`);
      const name: unknown = c[0];
      if (typeof name !== 'string' || name === '' || name.includes('.'))
        throw new TypeError(
          `Sequential.fromNamed: entry ${i}: the name must be a non-empty string without '.', got ${describe(name)}`,
        );
      if (seen.has(name)) throw new RangeError(`Sequential.fromNamed: entry ${i}: the name '${name}' is used twice`);
      seen.add(name);
    });
    namesForNext = children.map((c) => c[0]);
    try {
      return new Sequential(...children.map((c) => c[1]));
    } finally {
      namesForNext = null;
    }
  }

  /** Number of children. */
  get length(): number {
    return this.#layers.length;
  }

  /** Child `i` (negative values count from the end, as Array.prototype.at); undefined when out of range. */
  at(i: number): ModuleLike | undefined {
    if (typeof i !== 'number' || !Number.isInteger(i))
      throw new TypeError(`Sequential.at: index must be an integer, got ${describe(i)}`);
    return this.#layers.at(i);
  }

  /** The children in order. */
  [Symbol.iterator](): IterableIterator<ModuleLike> {
    return this.#layers.slice()[Symbol.iterator]();
  }

  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  /**
   * Calls `hook(output, index, module)` after each child's forward (sync and async), e.g. to
   * look at intermediate outputs. The output is the tensor passed on to the next child: read
   * it, do not write into it. Returns a handle whose `remove()` unregisters the hook.
   */
  registerForwardHook(hook: ForwardHook): { remove(): void } {
    if (typeof hook !== 'function')
      throw new TypeError(`registerForwardHook: hook must be a function, got ${describe(hook)}`);
    const h = (o: Tensor, i: number, m: ModuleLike): void => hook(o, i, m);
    this.#hooks.add(h);
    return { remove: () => void this.#hooks.delete(h) };
  }

  /** Runs the hooks for child i's output; if one throws, the children up to i forget this call. */
  #afterChild(y: Tensor, i: number): void {
    try {
      for (const h of this.#hooks) h(y, i, this.#layers[i]!);
    } catch (e) {
      this.#rollback(i + 1);
      throw e;
    }
  }

  /**
   * The output shape for an input of shape `inputShape`, without running anything. Throws what
   * `forward` would throw for that shape; a TypeError when a child cannot tell its output shape.
   */
  outputShape(inputShape: readonly number[]): number[] {
    const out = this.#infer(inputShape);
    if (out.shape === null)
      throw new TypeError(
        `outputShape: Sequential layer ${out.at} (${typeNameOf(this.#layers[out.at]!)}) cannot tell its output shape`,
      );
    return out.shape;
  }

  /** Shape inference through the children; stops (shape null) at the first child that cannot tell. */
  #infer(shape: readonly number[]): { shape: number[] | null; at: number } {
    let s: number[] | null = shape.slice();
    for (let i = 0; i < this.#layers.length; ++i) {
      const c = this.#layers[i]!;
      try {
        s = c instanceof Sequential ? c.#infer(s).shape : inferOutputShape(c, s);
      } catch (e) {
        throw inLayer(e, i, c);
      }
      if (s === null) return { shape: null, at: i };
    }
    return { shape: s, at: -1 };
  }

  /** Checks a forward's input before any child runs: devices, then shapes. */
  #check(input: unknown, what: string): Tensor {
    const x = checkTensor(input, `${what}: input`);
    this.#checkDevices(x.device, what);
    this.#infer(x.shape);
    return x;
  }

  /** Every child (nested Sequentials included) computes on `device`; reshaping layers run anywhere. */
  #checkDevices(device: string, what: string): void {
    this.#layers.forEach((c, i) => {
      try {
        if (c instanceof Sequential) return c.#checkDevices(device, what);
        if ((c as { _anyDevice?: boolean })._anyDevice === true) return;
        const d = (c as { device?: unknown }).device;
        if (typeof d === 'string' && d !== device)
          throw new TypeError(`${what}: input is on ${device} but the layer is on ${d}; move one with .to()`);
      } catch (e) {
        throw inLayer(e, i, c);
      }
    });
  }

  /** After child `failed` threw: the children before it forget this call where they can. */
  #rollback(failed: number): void {
    for (let j = failed - 1; j >= 0; --j)
      (this.#layers[j] as { _discardLastForward?: () => void })._discardLastForward?.();
  }

  /** Internal (nested Sequential): forgets the most recent pending forward. */
  _discardLastForward(): void {
    if (this.#pending.pop()) this.#rollback(this.#layers.length);
  }

  /** Runs the children in order and returns the last one's output. */
  forward(input: Tensor): Tensor {
    this._assertIdle('forward');
    let y = this.#check(input, 'forward');
    const inShape = y.shape;
    for (let i = 0; i < this.#layers.length; ++i) {
      const c = this.#layers[i]!;
      try {
        y = c.forward(y);
      } catch (e) {
        this.#rollback(i);
        throw inLayer(e, i, c);
      }
      this.#afterChild(y, i);
    }
    if (this.training) this.#pending.push({ input: inShape, output: y.shape });
    return y;
  }

  /**
   * Backward of the most recent pending forward: the children's backwards in reverse order.
   * Returns dL/d(input); parameter gradients accumulate into each parameter's `grad`.
   * `gradOutput` is checked against the call's output shape first; once the children run, the
   * call is consumed (if a child throws, the children after it have already taken theirs).
   *
   * With `{ inputGrad: false }` the network's input gets no gradient: null is returned, and a first
   * child that can skip dL/dinput (Linear, a nested Sequential) does, which saves its largest
   * product; the parameter gradients are the same as without the option.
   */
  backward(gradOutput: Tensor): Tensor;
  backward(gradOutput: Tensor, options: { inputGrad: false }): null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null {
    this._assertIdle('backward');
    const wantInput = readInputGrad(options, 'Sequential.backward');
    let g = this.#checkBackward(gradOutput, 'backward');
    this.#pending.pop();
    for (let i = this.#layers.length - 1; i >= 0; --i) {
      const c = this.#layers[i]!;
      try {
        if (i === 0 && !wantInput) {
          if ((c as { _takesBackwardOptions?: boolean })._takesBackwardOptions === true)
            (c as unknown as { backward(g: Tensor, o: InputGradOptions): Tensor | null }).backward(g, {
              inputGrad: false,
            });
          else c.backward(g);
          return null;
        }
        g = c.backward(g);
      } catch (e) {
        throw inLayer(e, i, c);
      }
    }
    return wantInput ? g : null;
  }

  #checkBackward(gradOutput: unknown, what: string): Tensor {
    const g = checkTensor(gradOutput, `${what}: gradOutput`);
    const rec = this.#pending[this.#pending.length - 1];
    if (!rec)
      throw codedError(
        ErrorCodes.NOTHING_PENDING,
        `${what}: no forward call is pending (run forward in training mode first; resetStates/detachStates/zeroGrad discard pending calls)`,
      );
    const s = g.shape;
    if (s.length !== rec.output.length || s.some((d, k) => d !== rec.output[k]))
      throw new RangeError(
        `${what}: gradOutput must have the shape of the pending call's output ${fmt(rec.output)}, got ${fmt(s)}`,
      );
    return g;
  }

  /** forward() with each child's forwardAsync where it has one (on the thread pool); calls queue in order. */
  forwardAsync(input: Tensor): Promise<Tensor> {
    let x: Tensor;
    try {
      x = checkTensor(input, 'forwardAsync: input');
    } catch (e) {
      return Promise.reject(e);
    }
    const training = this.training;
    return this.#enqueue(async () => {
      let y = this.#check(x, 'forwardAsync');
      const inShape = y.shape;
      for (let i = 0; i < this.#layers.length; ++i) {
        const c = this.#layers[i]!;
        try {
          y = c.forwardAsync ? await c.forwardAsync(y) : c.forward(y);
        } catch (e) {
          this.#rollback(i);
          throw inLayer(e, i, c);
        }
        this.#afterChild(y, i);
      }
      if (training) this.#pending.push({ input: inShape, output: y.shape });
      return y;
    });
  }

  /** backward() with each child's backwardAsync where it has one; queued behind earlier async calls. */
  backwardAsync(gradOutput: Tensor): Promise<Tensor> {
    try {
      checkTensor(gradOutput, 'backwardAsync: gradOutput');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#enqueue(async () => {
      let g = this.#checkBackward(gradOutput, 'backwardAsync');
      this.#pending.pop();
      for (let i = this.#layers.length - 1; i >= 0; --i) {
        const c = this.#layers[i]!;
        try {
          g = c.backwardAsync ? await c.backwardAsync(g) : c.backward(g);
        } catch (e) {
          throw inLayer(e, i, c);
        }
      }
      return g;
    });
  }

  #enqueue<R>(fn: () => Promise<R>): Promise<R> {
    this.#inflight += 1;
    const run = async (): Promise<R> => {
      try {
        return await fn();
      } finally {
        this.#inflight -= 1;
      }
    };
    const r = this.#queue.then(run, run);
    this.#queue = r.catch(() => undefined);
    return r;
  }

  protected override _assertIdle(what: string): void {
    if (this.#inflight > 0)
      throw new SpikelayersError(
        ErrorCodes.LAYER_BUSY,
        `${what}: the network is running an async call; await it first`,
      );
  }

  /** Zeros the states of every stateful child, cuts their gradient paths and discards pending calls. */
  override resetStates(): void {
    this._assertIdle('resetStates');
    super.resetStates();
    this.#pending = [];
  }

  /** Keeps the neuron states but cuts their gradient paths; discards pending calls. */
  override detachStates(): void {
    this._assertIdle('detachStates');
    super.detachStates();
    this.#pending = [];
  }

  protected override _onZeroGrad(): void {
    this.#pending = [];
  }

  /**
   * Loads a state dict keyed as PyTorch's (`0.weight`, `1.tau_mem`, ...). Everything is checked
   * before anything is written: an unexpected, missing or badly shaped key throws an error that
   * names the full key (and the expected shape) and leaves every layer unchanged.
   */
  override loadStateDict(dict: Record<string, Tensor | number>, opts?: LoadStateDictOptions): void {
    this._assertIdle('loadStateDict');
    const strict = readLoadOptions(dict, opts);
    if (plainDescendants(this).length === 0) return super.loadStateDict(dict, opts);
    loadWithPlainChildren(this, dict, strict, (d, s) => super.loadStateDict(d, { strict: s }));
  }
}
