import type { NativeBackwardArgs, NativeCommonArgs, NativeForwardArgs } from '#binding';
import {
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiSpike,
  SingleExponential,
  SingleSpike,
  Heaviside,
  Gaussian,
  MultiGaussian,
  PeriodicExponential,
  SPIKE_GIVEN,
  SPIKE_MULTI,
  SPIKE_SINGLE,
  SPIKE_NONE,
  RESET_NONE,
  SURR_GIVEN,
  type CustomSpikeFn,
  type CustomSurrogateFn,
  type ResetFnSpec,
  type SpikeFnSpec,
  type SurrogateSpec,
} from './activations.js';
import { _cudaLaunchEmulation, native, resolveDevice } from './backend.js';
import { ErrorCodes, SpikelayersError, codedError } from './errors.js';
import { Rng } from './rng.js';
import { Tensor, checkShape, checkTensor, describe } from './tensor.js';
import { alloc, copyTo, hostCopy, place, toHost, type Storage } from './storage.js';
import { layerIterate, layerStream, type LayerIterateOptions, type LayerStreamOptions } from './stream.js';
import type { Transform } from 'node:stream';

/** Checkpoint interval K (steps) of the backward recompute: a pending call keeps 4/K bytes per state per neuron-step. */
export const CHECKPOINT_INTERVAL = 32;

/** Constructor options of LIF (sinabs' keywords in camelCase, with sinabs' defaults). */
export interface LIFOptions {
  /** Membrane time constant in steps: a number or a Tensor of per-neuron values (broadcast from the right). Required. */
  tauMem: number | Tensor;
  /** Synaptic time constant; null (default) means no synaptic current. */
  tauSyn?: number | Tensor | null;
  /** Spike threshold (default 1). */
  spikeThreshold?: number | Tensor;
  /** MultiSpike (default), SingleSpike, a MaxSpike instance, a custom `{ forward(vMem, threshold) }`, or null for no spikes. */
  spikeFn?: SpikeFnSpec | null;
  /** new MembraneSubtract() (default) or new MembraneReset(). */
  resetFn?: ResetFnSpec;
  /** new SingleExponential() (default), another surrogate, or a function (vMem, threshold) => sigma. */
  surrogateGradFn?: SurrogateSpec;
  /** Lower bound of the membrane (default null: none). */
  minVMem?: number | Tensor | null;
  /** Train the decay factors alpha instead of the time constants (default false). */
  trainAlphas?: boolean;
  /** State shape including the batch dimension, allocated at construction (default null: lazily). */
  shape?: number[] | null;
  /** Scale the input by (1 - alpha_mem) (default true). */
  normInput?: boolean;
  /** Record the state after every step in `recordings` (default false). */
  recordStates?: boolean;
  /** 'cpu' (default), 'cuda' (= 'cuda:0'), 'cuda:N', or 'auto' (CUDA when usable, else CPU). Where CUDA
   * is unusable, 'cuda' throws an Error whose `code` and message say why. */
  device?: string;
  /** Seed of the generator used for batch resampling and randomised resets. */
  seed?: number;
}

const OPTION_NAMES = [
  'tauMem', 'tauSyn', 'spikeThreshold', 'spikeFn', 'resetFn', 'surrogateGradFn', 'minVMem',
  'trainAlphas', 'shape', 'normInput', 'recordStates', 'device', 'seed',
] as const;

/** Options of forward / forwardAsync. */
export interface ForwardOptions {
  /** Write the spikes into this tensor (same shape as the input) instead of a new one. */
  out?: Tensor;
}
/** Options of backward / backwardAsync. */
export interface BackwardOptions {
  /** Write the input gradient into this tensor instead of a new one. */
  out?: Tensor;
}

/** `resetStates` options (sinabs' reset_states). */
export interface ResetStatesOptions {
  /** Fill the states uniformly at random instead of zeros. */
  randomize?: boolean;
  /** Range per state, keyed by sinabs' state names (`v_mem`, `i_syn`); default [0, 1). */
  valueRanges?: Partial<Record<'v_mem' | 'i_syn', [number, number]>>;
}

/** What `recordings` holds after a forward with recordStates. */
export interface Recordings {
  vMem?: Tensor;
  iSyn?: Tensor;
}

type Link = { kind: 'start' } | { kind: 'carry' } | { kind: 'resample'; idxV: Int32Array; idxI: Int32Array | null };

interface NativeKinds {
  spike: number;
  reset: number;
  surr: number;
  theta: number;
  maxSpikes: number;
  thetaSub: number;
  resetValue: number;
  minV: number;
  hasMin: boolean;
  normInput: boolean;
  hasSyn: boolean;
  surrParams: Float32Array;
}

/** What a forward in training mode keeps for its backward. */
interface Pending {
  B: number;
  T: number;
  N: number;
  inputShape: number[];
  common: NativeCommonArgs;
  v0: Storage;
  i0: Storage | undefined;
  link: Link;
  customSurrogate: CustomSurrogateFn | null;
  /** alpha/tau factor per parameter element (null with trainAlphas), and parameter maps. */
  memGrad: ParamGradInfo;
  synGrad: ParamGradInfo | null;
  /** Adjoint of this call's final state, from the later call that continued from it. */
  carry: { gv: Storage; gi: Storage | null } | null;
}

interface ParamGradInfo {
  param: Tensor;
  map: Int32Array | null;
  /** d alpha / d tau per parameter element (tau mode), or null (alpha mode). */
  dAlpha: Float64Array | null;
}

interface Prepared {
  B: number;
  T: number;
  N: number;
  neuronShape: number[];
  inputShape: number[];
  fwd: NativeForwardArgs;
  link: Link;
  recreated: boolean;
  training: boolean;
  memGrad: ParamGradInfo;
  synGrad: ParamGradInfo | null;
  outTensor: Tensor | null;
}

const SINABS_NAMES: Record<string, string> = {
  tau_mem: 'tauMem', tau_syn: 'tauSyn', spike_threshold: 'spikeThreshold', spike_fn: 'spikeFn',
  reset_fn: 'resetFn', surrogate_grad_fn: 'surrogateGradFn', min_v_mem: 'minVMem',
  train_alphas: 'trainAlphas', norm_input: 'normInput', record_states: 'recordStates',
};

/** The layer family member: LIF, IAF (no leak) or ExpLeak (no spikes); see `LIF.kind`. */
export type LayerKind = 'LIF' | 'IAF' | 'ExpLeak';


/** A float32 parameter tensor from a number or Tensor, validated element by element. */
function paramTensor(v: unknown, name: string, check: (x: number) => boolean, expect: string): Tensor {
  let t: Tensor;
  if (typeof v === 'number') t = Tensor.from([v], []);
  else if (v instanceof Tensor) t = checkTensor(v, name).clone();
  else throw new TypeError(`LIF: ${name} must be a number or a Tensor, got ${describe(v)}`);
  const d = t._data();
  if (d.length === 0) throw new RangeError(`LIF: ${name} must not be empty`);
  for (let k = 0; k < d.length; ++k)
    if (!Number.isFinite(d[k]!) || !check(d[k]!))
      throw new RangeError(`LIF: ${name} must be ${expect}, got ${d[k]} at element ${k}`);
  return t;
}

function scalarOf(v: unknown, name: string, check: (x: number) => boolean, expect: string): number {
  let x: number;
  if (typeof v === 'number') x = v;
  else if (v instanceof Tensor) {
    const d = checkTensor(v, name)._data();
    if (d.length !== 1) throw new RangeError(`LIF: ${name} must be a single value, got ${d.length} elements`);
    x = d[0]!;
  } else throw new TypeError(`LIF: ${name} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(x) || !check(x)) throw new RangeError(`LIF: ${name} must be ${expect}, got ${x}`);
  return Math.fround(x);
}

/**
 * Maps every neuron n of `neuronShape` to an element of a parameter of shape `pShape`, with
 * NumPy broadcasting against the state shape (B, ...neuronShape) aligned from the right.
 * Returns null for a single-element parameter. Throws a RangeError when it does not broadcast.
 */
export function broadcastMap(pShape: readonly number[], neuronShape: readonly number[], what: string): Int32Array | null {
  const size = pShape.reduce((a, b) => a * b, 1);
  if (size === 1) return null;
  const R = neuronShape.length;
  let p = pShape.slice();
  while (p.length > R && p[0] === 1) p = p.slice(1);
  if (p.length > R) {
    throw new RangeError(
      `${what} of shape [${pShape.join(', ')}] does not broadcast against the neuron shape [${neuronShape.join(', ')}]: ` +
        `per-batch-entry values (a leading dimension other than 1) are not supported`,
    );
  }
  const off = R - p.length;
  for (let k = 0; k < p.length; ++k) {
    const pd = p[k]!, nd = neuronShape[off + k]!;
    if (pd !== 1 && pd !== nd)
      throw new RangeError(
        `${what} of shape [${pShape.join(', ')}] does not broadcast against the state shape [B, ${neuronShape.join(', ')}] ` +
          `(dimension ${k} is ${pd}, the state has ${nd}); shapes align from the right, e.g. [C, 1, 1] for (B, T, C, H, W) input`,
      );
  }
  const N = neuronShape.reduce((a, b) => a * b, 1);
  const map = new Int32Array(N);
  // strides of p (row-major), zero where p has size 1
  const pStride = new Array<number>(p.length).fill(0);
  let s = 1;
  for (let k = p.length - 1; k >= 0; --k) {
    pStride[k] = p[k] === 1 ? 0 : s;
    s *= p[k]!;
  }
  for (let n = 0; n < N; ++n) {
    let rem = n, idx = 0;
    for (let k = R - 1; k >= 0; --k) {
      const nd = neuronShape[k]!;
      const c = rem % nd;
      rem = (rem - c) / nd;
      const pk = k - off;
      if (pk >= 0) idx += c * pStride[pk]!;
    }
    map[n] = idx;
  }
  return map;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, k) => v === b[k]);
}

/**
 * The sinabs LIF layer (leaky integrate-and-fire), computed as sinabs 3.1.3 computes it.
 * Input (B, T, ...neurons); state persists across calls; `backward` gives sinabs' surrogate
 * gradients through time for the input and the time constants.
 */
export class LIF {
  #tauMem: Tensor | null = null;
  #tauSyn: Tensor | null = null;
  #alphaMem: Tensor | null = null;
  #alphaSyn: Tensor | null = null;
  #threshold: Tensor | null;
  #fixedAlphaMem = false;
  #minVMem: Tensor | null;
  readonly trainAlphas: boolean;
  readonly normInput: boolean;
  readonly recordStates: boolean;
  readonly spikeFn: SpikeFnSpec | null;
  readonly resetFn: ResetFnSpec;
  readonly surrogateGradFn: SurrogateSpec;
  #device = 'cpu';
  #training = true;
  #v: Storage | null = null;
  #i: Storage | null = null;
  #stateShape: number[] | null = null;
  /** The pending call whose final state is the current state (null: the state is detached). */
  #stateOwner: Pending | null = null;
  #pending: Pending[] = [];
  #recordings: Recordings = {};
  #firingRate: number | null = null;
  #inflight = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #rng: Rng;
  #mapCache = new Map<string, Int32Array | null>();

  /** 'LIF', 'IAF' or 'ExpLeak'. */
  readonly kind: LayerKind;

  constructor(options: LIFOptions);
  /** @internal (IAF and ExpLeak) */
  constructor(options: LIFOptions, kind: LayerKind, allowed: readonly string[]);
  constructor(options: LIFOptions, kind: LayerKind = 'LIF', allowed: readonly string[] = OPTION_NAMES) {
    this.kind = kind;
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new TypeError(`${kind}: expected an options object${kind === 'IAF' ? '' : ' such as { tauMem: 20 }'}`);
    for (const k of Object.keys(options)) {
      if (!allowed.includes(k)) {
        const hint = SINABS_NAMES[k] && allowed.includes(SINABS_NAMES[k]!) ? ` (did you mean '${SINABS_NAMES[k]}'?)` : '';
        throw new TypeError(`${kind}: unknown option '${k}'${hint}`);
      }
    }
    const o = kind === 'IAF' ? { ...options, tauMem: 1 } : options;
    if (o.tauMem === undefined || o.tauMem === null) throw new TypeError(`${kind}: tauMem is required (a number or a Tensor)`);
    const bool = (v: unknown, name: string, d: boolean): boolean => {
      if (v === undefined) return d;
      if (typeof v !== 'boolean') throw new TypeError(`LIF: ${name} must be a boolean, got ${describe(v)}`);
      return v;
    };
    this.trainAlphas = bool(o.trainAlphas, 'trainAlphas', false);
    this.normInput = kind === 'IAF' ? false : bool(o.normInput, 'normInput', kind === 'LIF');
    this.recordStates = bool(o.recordStates, 'recordStates', false);
    if (o.seed !== undefined && (typeof o.seed !== 'number' || !Number.isInteger(o.seed)))
      throw new TypeError(`LIF: seed must be an integer, got ${describe(o.seed)}`);
    this.#device = resolveDevice(o.device, 'LIF: device');

    const tauMem = paramTensor(o.tauMem, 'tauMem', (x) => x > 0, 'a finite positive number');
    const tauSyn = o.tauSyn === undefined || o.tauSyn === null ? null : paramTensor(o.tauSyn, 'tauSyn', (x) => x > 0, 'a finite positive number');
    const threshold = o.spikeThreshold === undefined ? 1 : scalarOf(o.spikeThreshold, 'spikeThreshold', (x) => x > 0, 'a finite positive number');
    this.#threshold = kind === 'ExpLeak' ? null : Tensor.from([threshold], []);
    this.#minVMem = o.minVMem === undefined || o.minVMem === null ? null : Tensor.from([scalarOf(o.minVMem, 'minVMem', () => true, 'a finite number')], []);

    // spike function
    if (kind === 'ExpLeak') this.spikeFn = null;
    else if (o.spikeFn === undefined) this.spikeFn = MultiSpike;
    else if (o.spikeFn === null) this.spikeFn = null;
    else if (o.spikeFn === MultiSpike || o.spikeFn === SingleSpike || o.spikeFn instanceof MultiSpike || o.spikeFn instanceof SingleSpike || o.spikeFn instanceof MaxSpike) this.spikeFn = o.spikeFn;
    else if (typeof o.spikeFn === 'object' && typeof (o.spikeFn as CustomSpikeFn).forward === 'function') this.spikeFn = o.spikeFn;
    else throw new TypeError(`LIF: spikeFn must be MultiSpike, SingleSpike, a MaxSpike instance, an object with forward(vMem, threshold), or null; got ${describe(o.spikeFn)}`);
    // reset
    if (o.resetFn === undefined) this.resetFn = new MembraneSubtract();
    else if (o.resetFn instanceof MembraneSubtract || o.resetFn instanceof MembraneReset) this.resetFn = o.resetFn;
    else throw new TypeError(`LIF: resetFn must be a MembraneSubtract or MembraneReset instance, got ${describe(o.resetFn)}`);
    // surrogate
    if (o.surrogateGradFn === undefined) this.surrogateGradFn = new SingleExponential();
    else if ([SingleExponential, Heaviside, Gaussian, MultiGaussian, PeriodicExponential].includes(o.surrogateGradFn as never))
      throw new TypeError(`LIF: surrogateGradFn must be a surrogate instance, e.g. new ${(o.surrogateGradFn as { name: string }).name}(), not the class`);
    else if (typeof o.surrogateGradFn === 'function' || o.surrogateGradFn instanceof SingleExponential || o.surrogateGradFn instanceof Heaviside || o.surrogateGradFn instanceof Gaussian || o.surrogateGradFn instanceof MultiGaussian || o.surrogateGradFn instanceof PeriodicExponential) this.surrogateGradFn = o.surrogateGradFn;
    else throw new TypeError(`LIF: surrogateGradFn must be a surrogate instance (e.g. new SingleExponential()) or a function (vMem, threshold) => sigma, got ${describe(o.surrogateGradFn)}`);

    if (kind === 'IAF') {
      this.#alphaMem = Tensor.from([1], []);  // no leak: alpha_mem is the constant 1, not a parameter
      this.#fixedAlphaMem = true;
      if (tauSyn) {
        this.#tauSyn = tauSyn;
        this.#tauSyn.requiresGrad = true;
      }
    } else if (this.trainAlphas) {
      this.#alphaMem = alphaOf(tauMem);
      this.#alphaMem.requiresGrad = true;
      if (tauSyn) {
        this.#alphaSyn = alphaOf(tauSyn);
        this.#alphaSyn.requiresGrad = true;
      }
    } else {
      this.#tauMem = tauMem;
      this.#tauMem.requiresGrad = true;
      if (tauSyn) {
        this.#tauSyn = tauSyn;
        this.#tauSyn.requiresGrad = true;
      }
    }
    this.#rng = new Rng(o.seed);
    if (o.shape !== undefined && o.shape !== null) {
      const n = checkShape(o.shape, 'LIF: shape');
      if (o.shape.length < 1 || n === 0) throw new RangeError('LIF: shape must include the batch dimension and have no zero dimension, e.g. [B, C]');
      this.#stateShape = o.shape.slice();
      this.#v = alloc(this.#device, n, true);
      if (this.hasSynapse) this.#i = alloc(this.#device, n, true);
    }
  }

  // ---- parameters -----------------------------------------------------------------------------

  /** True when the layer has a synaptic current (tauSyn given). */
  get hasSynapse(): boolean {
    return this.#tauSyn !== null || this.#alphaSyn !== null;
  }
  /** The tau_mem parameter (null with trainAlphas, where sinabs has no such attribute, and for IAF). */
  get tauMem(): Tensor | null {
    return this.#tauMem;
  }
  /** The tau_syn parameter, or null. */
  get tauSyn(): Tensor | null {
    return this.#tauSyn;
  }
  /** The alpha_mem parameter (trainAlphas only, else null). */
  get alphaMem(): Tensor | null {
    return this.#fixedAlphaMem ? null : this.#alphaMem;
  }
  /** The alpha_syn parameter (trainAlphas with tauSyn only, else null). */
  get alphaSyn(): Tensor | null {
    return this.#alphaSyn;
  }
  /** The spike threshold parameter (no gradient); null for ExpLeak, which does not spike. */
  get spikeThreshold(): Tensor | null {
    return this.#threshold;
  }
  /** The min_v_mem parameter (no gradient) or null. */
  get minVMem(): Tensor | null {
    return this.#minVMem;
  }
  /** exp(-1/tau_mem), or alpha_mem with trainAlphas (a copy). */
  get alphaMemCalculated(): Tensor {
    return this.#alphaMem ? this.#alphaMem.clone() : alphaOf(this.#tauMem!);
  }
  /** exp(-1/tau_syn), alpha_syn with trainAlphas, or null. */
  get alphaSynCalculated(): Tensor | null {
    if (this.#alphaSyn) return this.#alphaSyn.clone();
    return this.#tauSyn ? alphaOf(this.#tauSyn) : null;
  }
  /** tau_mem, or -1/log(alpha_mem) with trainAlphas (a copy). */
  get tauMemCalculated(): Tensor {
    if (this.#fixedAlphaMem) return Tensor.from([Infinity], []);  // IAF: no leak
    return this.#tauMem ? this.#tauMem.clone() : tauOf(this.#alphaMem!);
  }
  /** tau_syn, -1/log(alpha_syn) with trainAlphas, or null. */
  get tauSynCalculated(): Tensor | null {
    if (this.#tauSyn) return this.#tauSyn.clone();
    return this.#alphaSyn ? tauOf(this.#alphaSyn) : null;
  }

  /** Parameters in sinabs' order: tau_mem|alpha_mem, tau_syn|alpha_syn, min_v_mem, spike_threshold. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** [name, parameter] pairs with sinabs' names. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    if (this.#tauMem) out.push(['tau_mem', this.#tauMem]);
    if (this.#alphaMem && !this.#fixedAlphaMem) out.push(['alpha_mem', this.#alphaMem]);
    if (this.#tauSyn) out.push(['tau_syn', this.#tauSyn]);
    if (this.#alphaSyn) out.push(['alpha_syn', this.#alphaSyn]);
    if (this.#minVMem) out.push(['min_v_mem', this.#minVMem]);
    if (this.#threshold) out.push(['spike_threshold', this.#threshold]);
    return out;
  }

  // ---- state ----------------------------------------------------------------------------------

  /** Where the layer computes: 'cpu' or 'cuda:N'. */
  get device(): string {
    return this.#device;
  }
  /** The membrane state (B, ...neurons) as a copy on the layer's device, or null before the first forward. */
  get vMem(): Tensor | null {
    return this.#v && this.#stateShape ? Tensor._adopt(copyTo(this.#device, this.#v), this.#stateShape, this.#device) : null;
  }
  /** The synaptic current state, or null (no tauSyn, or before the first forward). */
  get iSyn(): Tensor | null {
    return this.#i && this.#stateShape ? Tensor._adopt(copyTo(this.#device, this.#i), this.#stateShape, this.#device) : null;
  }
  /** The state shape including the batch dimension, or null before initialisation. */
  get shape(): number[] | null {
    return this.#stateShape ? this.#stateShape.slice() : null;
  }
  /** Recordings of the last forward (recordStates): state after every step, (B, T, ...neurons). */
  get recordings(): Recordings {
    return { ...this.#recordings };
  }
  /** Mean of the last forward's output, or null before the first forward. */
  get firingRate(): number | null {
    return this.#firingRate;
  }
  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }
  /** True in training mode (forward records what backward needs). */
  get training(): boolean {
    return this.#training;
  }

  /** Training mode: forwards record what their backward needs. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new TypeError(`train: mode must be a boolean, got ${describe(mode)}`);
    this.#training = mode;
    return this;
  }
  /** Inference mode: forwards record nothing (no memory kept, no backward). */
  eval(): this {
    return this.train(false);
  }

  /** Re-seeds the generator used for batch resampling and randomised resets. */
  manualSeed(seed: number): this {
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new TypeError(`manualSeed: seed must be an integer, got ${describe(seed)}`);
    this.#rng.seed(seed);
    return this;
  }

  /** Zeros the states (or fills them at random) and cuts the gradient path. No-op before initialisation. */
  resetStates(opts?: ResetStatesOptions): void {
    this.#notBusy('resetStates');
    let randomize = false;
    let ranges: ResetStatesOptions['valueRanges'] = {};
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object') throw new TypeError('resetStates: options must be an object');
      for (const k of Object.keys(opts))
        if (k !== 'randomize' && k !== 'valueRanges') throw new TypeError(`resetStates: unknown option '${k}' (expected 'randomize', 'valueRanges')`);
      if (opts.randomize !== undefined && typeof opts.randomize !== 'boolean') throw new TypeError('resetStates: randomize must be a boolean');
      randomize = opts.randomize ?? false;
      if (opts.valueRanges !== undefined) {
        if (opts.valueRanges === null || typeof opts.valueRanges !== 'object') throw new TypeError('resetStates: valueRanges must be an object such as { v_mem: [0, 1] }');
        for (const [k, r] of Object.entries(opts.valueRanges)) {
          if (k !== 'v_mem' && k !== 'i_syn') throw new TypeError(`resetStates: valueRanges has an unknown state '${k}' (expected 'v_mem' or 'i_syn')`);
          if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x)) || r[0] > r[1])
            throw new RangeError(`resetStates: valueRanges.${k} must be [low, high] with finite numbers and low <= high`);
        }
        ranges = opts.valueRanges;
      }
    }
    this.#cut();
    if (!this.#v) return;
    const fill = (n: number, name: 'v_mem' | 'i_syn'): Storage => {
      const a = new Float32Array(n);
      if (randomize) {
        const [lo, hi] = ranges?.[name] ?? [0, 1];
        for (let k = 0; k < a.length; ++k) a[k] = lo + (hi - lo) * this.#rng.next();
      }
      return place(this.#device, a);
    };
    this.#v = fill(this.#v.length, 'v_mem');
    if (this.#i) this.#i = fill(this.#i.length, 'i_syn');
  }

  /** Keeps the state values but cuts the gradient path (discards pending backward data). */
  detachStates(): void {
    this.#notBusy('detachStates');
    this.#cut();
  }

  /** Zeros the parameter gradients and detaches the states, as sinabs' zero_grad does. */
  zeroGrad(): void {
    this.#notBusy('zeroGrad');
    for (const p of this.parameters()) if (p.grad) p.grad._assign(new Float32Array(p.grad.size));
    this.#cut();
  }

  #cut(): void {
    this.#pending = [];
    this.#stateOwner = null;
  }

  #notBusy(what: string): void {
    if (this.#inflight > 0)
      throw new SpikelayersError(ErrorCodes.LAYER_BUSY, `${what}: the layer is running an async call; await it first`);
  }

  /** Moves the layer (state, recordings and pending calls) to a device: 'cpu', 'cuda', 'cuda:N'. */
  to(device: string): this {
    this.#notBusy('to');
    const d = resolveDevice(device, 'LIF.to: device');
    if (d === this.#device) return this;
    const mv = <S extends Storage | null | undefined>(x: S): S => (x ? (copyTo(d, x) as S) : x);
    const moved = this.#pending.map((r) => ({
      ...r,
      common: {
        ...r.common,
        alphaMem: mv(r.common.alphaMem), alphaSyn: mv(r.common.alphaSyn), x: mv(r.common.x),
        spikesGiven: mv(r.common.spikesGiven), ckV: mv(r.common.ckV), ckI: mv(r.common.ckI),
      },
      v0: mv(r.v0), i0: mv(r.i0),
      carry: r.carry ? { gv: mv(r.carry.gv), gi: mv(r.carry.gi) } : null,
    }));
    const owner = this.#stateOwner ? moved[this.#pending.indexOf(this.#stateOwner)] ?? null : null;
    const rec: Recordings = {};
    if (this.#recordings.vMem) rec.vMem = this.#recordings.vMem.to(d);
    if (this.#recordings.iSyn) rec.iSyn = this.#recordings.iSyn.to(d);
    this.#v = mv(this.#v);
    this.#i = mv(this.#i);
    this.#pending = moved;
    this.#stateOwner = owner;
    this.#recordings = rec;
    this.#device = d;
    return this;
  }

  // ---- state dict -----------------------------------------------------------------------------

  /** Parameters and states with sinabs' key names (copies). */
  stateDict(): Record<string, Tensor> {
    const d: Record<string, Tensor> = {};
    for (const [k, t] of this.namedParameters()) d[k] = t.clone();
    d.v_mem = this.#v && this.#stateShape ? Tensor._adopt(hostCopy(this.#v), this.#stateShape) : Tensor.zeros([0]);
    if (this.hasSynapse) d.i_syn = this.#i && this.#stateShape ? Tensor._adopt(hostCopy(this.#i), this.#stateShape) : Tensor.zeros([0]);
    return d;
  }

  /**
   * Loads parameters and states saved by stateDict() (or by sinabs, with the same keys). With
   * `strict` (default true) unknown and missing keys are errors. Cuts the gradient path.
   */
  loadStateDict(dict: Record<string, Tensor | number>, opts?: { strict?: boolean }): void {
    this.#notBusy('loadStateDict');
    if (dict === null || typeof dict !== 'object') throw new TypeError('loadStateDict: dict must be an object of Tensors');
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object') throw new TypeError('loadStateDict: options must be an object such as { strict: false }');
      for (const k of Object.keys(opts)) if (k !== 'strict') throw new TypeError(`loadStateDict: unknown option '${k}' (expected 'strict')`);
      if (opts.strict !== undefined && typeof opts.strict !== 'boolean') throw new TypeError(`loadStateDict: strict must be a boolean, got ${describe(opts.strict)}`);
    }
    const strict = opts?.strict ?? true;
    const own = this.stateDict();
    const updates: [string, Float32Array, number[]][] = [];
    for (const [k, v] of Object.entries(dict)) {
      if (!(k in own)) {
        if (strict) throw new TypeError(`loadStateDict: unexpected key '${k}' (this layer has ${Object.keys(own).map((x) => `'${x}'`).join(', ')})`);
        continue;
      }
      const t = typeof v === 'number' ? Tensor.from([v], []) : checkTensor(v, `loadStateDict: '${k}'`);
      const data = t.toFloat32Array();
      for (let q = 0; q < data.length; ++q)
        if (!Number.isFinite(data[q]!) && k !== 'v_mem' && k !== 'i_syn') throw new RangeError(`loadStateDict: '${k}' must be finite, got ${data[q]} at element ${q}`);
      if (k === 'v_mem' || k === 'i_syn') {
        if (t.rank < 1) throw new RangeError(`loadStateDict: '${k}' must have a batch dimension`);
      } else {
        if (!sameShape(t.shape, own[k]!.shape)) throw new RangeError(`loadStateDict: '${k}' has shape [${t.shape.join(', ')}], the layer's is [${own[k]!.shape.join(', ')}]`);
        if ((k === 'tau_mem' || k === 'tau_syn' || k === 'spike_threshold') && data.some((x) => !(x > 0)))
          throw new RangeError(`loadStateDict: '${k}' must be positive`);
      }
      updates.push([k, data.slice(), t.shape]);
    }
    if (strict) {
      const missing = Object.keys(own).filter((k) => !(k in dict));
      if (missing.length) throw new TypeError(`loadStateDict: missing key(s) ${missing.map((x) => `'${x}'`).join(', ')}`);
    }
    const vu = updates.find((u) => u[0] === 'v_mem');
    const iu = updates.find((u) => u[0] === 'i_syn');
    if (vu && iu && vu[2].length && iu[2].length && !sameShape(vu[2], iu[2]) && iu[1].length && vu[1].length)
      throw new RangeError(`loadStateDict: 'v_mem' [${vu[2].join(', ')}] and 'i_syn' [${iu[2].join(', ')}] must have the same shape`);
    // all checked: apply
    const params = Object.fromEntries(this.namedParameters());
    for (const [k, data, shape] of updates) {
      if (k === 'v_mem') {
        if (data.length === 0) {
          this.#v = null; this.#stateShape = null; this.#i = null;
        } else {
          this.#v = place(this.#device, data); this.#stateShape = shape;
        }
      } else if (k === 'i_syn') {
        if (data.length) this.#i = place(this.#device, data);
      } else params[k]!._assign(data);
    }
    if (this.#v && this.hasSynapse && (!this.#i || this.#i.length !== this.#v.length)) this.#i = alloc(this.#device, this.#v.length, true);
    this.#cut();
  }

  // ---- forward --------------------------------------------------------------------------------

  #kinds(): NativeKinds {
    const theta = this.#threshold ? this.#threshold._data()[0]! : 1;  // ExpLeak: unused
    let spike: number, maxSpikes = Infinity;
    const sf = this.spikeFn;
    if (sf === null) spike = SPIKE_NONE;
    else if (sf === MultiSpike || sf instanceof MultiSpike) spike = SPIKE_MULTI;
    else if (sf === SingleSpike || sf instanceof SingleSpike) spike = SPIKE_SINGLE;
    else if (sf instanceof MaxSpike) ({ spike, maxSpikes } = sf._native());
    else spike = SPIKE_GIVEN;
    let reset = RESET_NONE, thetaSub = theta, resetValue = 0;
    if (sf !== null) ({ reset, thetaSub, resetValue } = this.resetFn._native(theta));
    let surr = SURR_GIVEN, surrParams = new Float32Array(10);
    if (typeof this.surrogateGradFn !== 'function') {
      const s = this.surrogateGradFn._native(theta);
      surr = s.surr;
      surrParams.set(s.params);
    }
    return {
      spike, reset, surr, theta, maxSpikes, thetaSub, resetValue,
      minV: this.#minVMem ? this.#minVMem._data()[0]! : 0,
      hasMin: this.#minVMem !== null,
      normInput: this.normInput,
      hasSyn: this.hasSynapse,
      surrParams,
    };
  }

  /** Whether the current state still carries a gradient path into the newest pending call. */
  #stateLinked(): boolean {
    const top = this.#pending[this.#pending.length - 1];
    return top !== undefined && this.#stateOwner === top;
  }

  #map(p: Tensor, neuronShape: number[], what: string): Int32Array | null {
    const key = `${p.shape.join(',')}|${neuronShape.join(',')}`;
    if (!this.#mapCache.has(key)) this.#mapCache.set(key, broadcastMap(p.shape, neuronShape, what));
    return this.#mapCache.get(key)!;
  }

  /** Decay factors expanded per neuron (or scalar) and their gradient bookkeeping. */
  #alphas(tau: Tensor | null, alpha: Tensor | null, neuronShape: number[], N: number, what: string): { arr: Storage; grad: ParamGradInfo } {
    const param = (tau ?? alpha)!;
    const map = this.#map(param, neuronShape, what);
    const pd = param._data();
    const a = new Float32Array(pd.length);
    let dAlpha: Float64Array | null = null;
    if (tau) {
      dAlpha = new Float64Array(pd.length);
      for (let k = 0; k < pd.length; ++k) {
        a[k] = Math.exp(-1 / pd[k]!);
        dAlpha[k] = a[k]! / (pd[k]! * pd[k]!);
      }
    } else a.set(pd);
    let arr: Float32Array;
    if (map === null) arr = a.subarray(0, 1);
    else {
      arr = new Float32Array(N);
      for (let n = 0; n < N; ++n) arr[n] = a[map[n]!]!;
    }
    return { arr: place(this.#device, arr), grad: { param, map, dAlpha } };
  }

  #prepare(input: unknown, opts: ForwardOptions | undefined, what: string, training = this.#training): Prepared {
    const x = checkTensor(input, `${what}: input`);
    if (x.device !== this.#device)
      throw new TypeError(`${what}: input is on ${x.device} but the layer is on ${this.#device}; move one with .to()`);
    const shape = x.shape;
    if (shape.length < 2) throw new RangeError(`${what}: input must have rank >= 2, (B, T, ...neurons); got shape [${shape.join(', ')}]`);
    const [B, T, ...neuronShape] = shape as [number, number, ...number[]];
    if (B === 0) throw new RangeError(`${what}: input batch size B must be >= 1, got shape [${shape.join(', ')}]`);
    if (T === 0) throw new RangeError(`${what}: input must have at least one time step (T >= 1), got shape [${shape.join(', ')}]`);
    if (neuronShape.some((d) => d === 0)) throw new RangeError(`${what}: input neuron dimensions must be >= 1, got shape [${shape.join(', ')}]`);
    const N = neuronShape.reduce((a, b) => a * b, 1);
    let outTensor: Tensor | null = null;
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object') throw new TypeError(`${what}: options must be an object such as { out }`);
      for (const k of Object.keys(opts)) if (k !== 'out') throw new TypeError(`${what}: unknown option '${k}' (expected 'out')`);
      if (opts.out !== undefined) {
        outTensor = checkTensor(opts.out, `${what}: out`);
        if (!sameShape(outTensor.shape, shape)) throw new RangeError(`${what}: out must have the input's shape [${shape.join(', ')}], got [${outTensor.shape.join(', ')}]`);
        if (outTensor.device !== this.#device)
          throw new TypeError(`${what}: out is on ${outTensor.device} but the layer is on ${this.#device}`);
        if (outTensor._storage() === x._storage()) throw new RangeError(`${what}: out must not be the input tensor`);
        if (this.#pending.some((r) => r.common.x === outTensor!._storage()))
          throw new RangeError(`${what}: out is the input of a call still waiting for its backward; writing into it would corrupt that backward`);
      }
    }
    const mem = this.#alphas(this.#tauMem, this.#alphaMem, neuronShape, N, this.trainAlphas ? 'alphaMem' : 'tauMem');
    const syn = this.hasSynapse ? this.#alphas(this.#tauSyn, this.#alphaSyn, neuronShape, N, this.trainAlphas ? 'alphaSyn' : 'tauSyn') : null;
    const k = this.#kinds();
    // state preparation (sinabs rules), into new arrays: the layer changes only on commit
    const dev = this.#device;
    let v0: Storage, i0: Storage | undefined;
    let link: Link = { kind: 'carry' };
    let recreated = false;
    const st = this.#stateShape;
    if (!this.#v || !st || !sameShape(st.slice(1), neuronShape)) {
      v0 = alloc(dev, B * N, true);
      i0 = k.hasSyn ? alloc(dev, B * N, true) : undefined;
      link = { kind: 'start' };
      recreated = this.#v !== null && st !== null && !sameShape(st.slice(1), neuronShape);
    } else if (st[0] !== B) {
      const Bold = st[0]!;
      const idxV = new Int32Array(B), idxI = k.hasSyn ? new Int32Array(B) : null;
      for (let b = 0; b < B; ++b) idxV[b] = Bold === 1 ? 0 : this.#rng.int(Bold);
      if (idxI) for (let b = 0; b < B; ++b) idxI[b] = Bold === 1 ? 0 : this.#rng.int(Bold);
      const vOld = toHost(this.#v);
      const vNew = new Float32Array(B * N);
      for (let b = 0; b < B; ++b) vNew.set(vOld.subarray(idxV[b]! * N, (idxV[b]! + 1) * N), b * N);
      v0 = place(dev, vNew);
      if (k.hasSyn) {
        const iOld = this.#i ? toHost(this.#i) : new Float32Array(Bold * N);
        const iNew = new Float32Array(B * N);
        for (let b = 0; b < B; ++b) iNew.set(iOld.subarray(idxI![b]! * N, (idxI![b]! + 1) * N), b * N);
        i0 = place(dev, iNew);
      }
      link = this.#stateLinked() ? { kind: 'resample', idxV, idxI } : { kind: 'start' };
    } else {
      v0 = this.#v;
      i0 = k.hasSyn ? (this.#i ?? alloc(dev, B * N, true)) : undefined;
      if (!this.#stateLinked()) link = { kind: 'start' };
    }
    const E = B * T * N;
    const K = CHECKPOINT_INTERVAL;
    const nCk = Math.ceil(T / K);
    const fwd: NativeForwardArgs = {
      B, T, N,
      spike: k.spike, reset: k.reset, surr: k.surr, hasSyn: k.hasSyn,
      theta: k.theta, maxSpikes: k.maxSpikes, thetaSub: k.thetaSub, resetValue: k.resetValue,
      minV: k.minV, hasMin: k.hasMin, normInput: k.normInput, K,
      surrParams: k.surrParams,
      emulate: _cudaLaunchEmulation(),
      alphaMem: mem.arr,
      alphaSyn: syn?.arr,
      x: x._storage(),
      v0, i0,
      out: outTensor ? outTensor._storage() : alloc(dev, E),
      v1: alloc(dev, B * N),
      i1: k.hasSyn ? alloc(dev, B * N) : undefined,
      recV: this.recordStates ? alloc(dev, E) : undefined,
      recI: this.recordStates && k.hasSyn ? alloc(dev, E) : undefined,
      ckV: training ? alloc(dev, B * nCk * N) : undefined,
      ckI: training && k.hasSyn ? alloc(dev, B * nCk * N) : undefined,
    };
    return { B, T, N, neuronShape, inputShape: shape, fwd, link, recreated, training, memGrad: mem.grad, synGrad: syn?.grad ?? null, outTensor };
  }

  /** Custom spike functions: step through time, calling the user's function once per step. */
  #customSpikes(p: Prepared): void {
    const { B, T, N, fwd } = p;
    const sf = this.spikeFn as CustomSpikeFn;
    const bin = native();
    const BN = B * N;
    const given = new Float32Array(B * T * N);
    // the user's function runs on the host: step with host copies (a round trip for CUDA layers)
    const x = toHost(fwd.x);
    const hostArgs = { alphaMem: toHost(fwd.alphaMem), alphaSyn: fwd.alphaSyn ? toHost(fwd.alphaSyn) : undefined };
    let v: Float32Array = toHost(fwd.v0);
    let i: Float32Array | undefined = fwd.i0 ? toHost(fwd.i0) : undefined;
    const xt = new Float32Array(BN), u = new Float32Array(BN), st = new Float32Array(BN);
    const scratch = new Float32Array(BN);
    for (let t = 0; t < T; ++t) {
      for (let b = 0; b < B; ++b) xt.set(x.subarray((b * T + t) * N, (b * T + t + 1) * N), b * N);
      const step: NativeForwardArgs = {
        ...fwd, ...hostArgs, emulate: false, T: 1, x: xt, v0: v, i0: i, out: scratch,
        v1: new Float32Array(BN), i1: i ? new Float32Array(BN) : undefined,
        recV: undefined, recI: undefined, ckV: undefined, ckI: undefined, uOut: undefined,
      };
      // u_t from the state (the spike kind here is irrelevant: only uOut is used) ...
      bin.lifForward({ ...step, spike: SPIKE_MULTI, v1: new Float32Array(BN), i1: i ? new Float32Array(BN) : undefined, uOut: u });
      // ... the user's spikes ...
      const s = sf.forward(u.slice(), fwd.theta);
      if (s === null || typeof s !== 'object' || typeof (s as ArrayLike<number>).length !== 'number')
        throw new TypeError(`LIF: spikeFn.forward must return a Float32Array of ${BN} spike counts, got ${describe(s)}`);
      if ((s as ArrayLike<number>).length !== BN)
        throw new RangeError(`LIF: spikeFn.forward returned ${(s as ArrayLike<number>).length} values, expected ${BN} (one per neuron of the batch)`);
      for (let q = 0; q < BN; ++q) st[q] = Number((s as ArrayLike<number>)[q]);
      // ... then reset and clip with those spikes.
      bin.lifForward({ ...step, spike: SPIKE_GIVEN, spikesGiven: st });
      for (let b = 0; b < B; ++b) given.set(st.subarray(b * N, (b + 1) * N), (b * T + t) * N);
      v = step.v1 as Float32Array;
      i = step.i1 as Float32Array | undefined;
    }
    // One full pass replaying the given spikes yields output, state, recordings and checkpoints
    // with the same step code; the pending call keeps the spikes for its backward.
    fwd.spike = SPIKE_GIVEN;
    fwd.spikesGiven = place(this.#device, given);
  }

  #commit(p: Prepared, spikeSum: number): Tensor {
    const { B, T, N, fwd } = p;
    if (p.recreated) this.#cut();
    this.#v = fwd.v1;
    this.#i = fwd.i1 ?? null;
    this.#stateShape = [B, ...p.neuronShape];
    this.#firingRate = spikeSum / (B * T * N);
    this.#recordings = {};
    if (fwd.recV) this.#recordings.vMem = Tensor._adopt(fwd.recV, p.inputShape, this.#device);
    if (fwd.recI) this.#recordings.iSyn = Tensor._adopt(fwd.recI, p.inputShape, this.#device);
    if (p.training) {
      const common: NativeCommonArgs = {
        B, T, N, spike: fwd.spike, reset: fwd.reset, surr: fwd.surr, hasSyn: fwd.hasSyn,
        theta: fwd.theta, maxSpikes: fwd.maxSpikes, thetaSub: fwd.thetaSub, resetValue: fwd.resetValue,
        minV: fwd.minV, hasMin: fwd.hasMin, normInput: fwd.normInput, K: fwd.K, surrParams: fwd.surrParams,
        alphaMem: fwd.alphaMem, alphaSyn: fwd.alphaSyn, x: fwd.x, spikesGiven: fwd.spikesGiven,
        ckV: fwd.ckV, ckI: fwd.ckI, emulate: fwd.emulate,
      };
      const rec: Pending = {
        B, T, N, inputShape: p.inputShape, common, v0: fwd.v0, i0: fwd.i0, link: p.link,
        customSurrogate: typeof this.surrogateGradFn === 'function' ? this.surrogateGradFn : null,
        memGrad: p.memGrad, synGrad: p.synGrad, carry: null,
      };
      this.#pending.push(rec);
      this.#stateOwner = rec;
    } else {
      this.#stateOwner = null;  // an eval forward detaches the state
    }
    if (p.outTensor) return p.outTensor;
    return Tensor._adopt(fwd.out, p.inputShape, this.#device);
  }

  /**
   * Runs the layer over an input (B, T, ...neurons) and returns the spikes, same shape (the
   * membrane potential for ExpLeak or spikeFn null).
   * State carries over from the previous call (sinabs' rules for shape changes).
   */
  forward(input: Tensor, opts?: ForwardOptions): Tensor {
    this.#notBusy('forward');
    const rngState = this.#rng.state();
    try {
      const p = this.#prepare(input, opts, 'forward');
      if (p.fwd.spike === SPIKE_GIVEN) this.#customSpikes(p);
      const sum = native().lifForward(p.fwd);
      return this.#commit(p, sum);
    } catch (e) {
      this.#rng.seed(rngState);  // a rejected call leaves the generator as it was
      throw e;
    }
  }

  /** forward() on the libuv thread pool. Calls on one layer run one after another, in order. */
  forwardAsync(input: Tensor, opts?: ForwardOptions): Promise<Tensor> {
    // The input's data and the train/eval mode are taken now, as a sync call would take them.
    let x: Tensor;
    const training = this.#training;
    try {
      x = checkTensor(input, 'forwardAsync: input');
      x = Tensor._adopt(x._storage(), x.shape, x.device);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#enqueue(async () => {
      const rngState = this.#rng.state();
      try {
        const p = this.#prepare(x, opts, 'forwardAsync', training);
        if (p.fwd.spike === SPIKE_GIVEN) this.#customSpikes(p);
        const sum = await native().lifForwardAsync(p.fwd);
        return this.#commit(p, sum);
      } catch (e) {
        this.#rng.seed(rngState);
        throw e;
      }
    });
  }

  // Async calls on one layer run one after another. From the moment one is issued until it
  // settles, synchronous calls that use or change the layer throw ERR_LAYER_BUSY.
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

  // ---- backward -------------------------------------------------------------------------------

  #prepareBackward(gradOutput: unknown, opts: BackwardOptions | undefined, what: string) {
    const g = checkTensor(gradOutput, `${what}: gradOutput`);
    if (g.device !== this.#device)
      throw new TypeError(`${what}: gradOutput is on ${g.device} but the layer is on ${this.#device}; move one with .to()`);
    if (this.#pending.length === 0)
      throw codedError(ErrorCodes.NOTHING_PENDING, `${what}: no forward call is pending (run forward in training mode first; resetStates/detachStates/zeroGrad discard pending calls)`);
    const rec = this.#pending[this.#pending.length - 1]!;
    if (!sameShape(g.shape, rec.inputShape))
      throw new RangeError(`${what}: gradOutput must have the shape of the pending call's output [${rec.inputShape.join(', ')}], got [${g.shape.join(', ')}]`);
    let outTensor: Tensor | null = null;
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object') throw new TypeError(`${what}: options must be an object such as { out }`);
      for (const k of Object.keys(opts)) if (k !== 'out') throw new TypeError(`${what}: unknown option '${k}' (expected 'out')`);
      if (opts.out !== undefined) {
        outTensor = checkTensor(opts.out, `${what}: out`);
        if (outTensor.device !== this.#device)
          throw new TypeError(`${what}: out is on ${outTensor.device} but the layer is on ${this.#device}`);
        if (!sameShape(outTensor.shape, rec.inputShape)) throw new RangeError(`${what}: out must have shape [${rec.inputShape.join(', ')}], got [${outTensor.shape.join(', ')}]`);
      }
    }
    const { B, T, N } = rec;
    const BN = B * N;
    const c = rec.common;
    let surr = c.surr;
    const dev = this.#device;
    let sigmaGiven: Storage | undefined;
    if (rec.customSurrogate && c.spike !== SPIKE_NONE) {
      // Recompute u for every step, then ask the user's surrogate for sigma(u).
      const uS = alloc(dev, B * T * N);
      native().lifForward({ ...c, v0: rec.v0, i0: rec.i0, out: alloc(dev, B * T * N), v1: alloc(dev, BN), i1: c.hasSyn ? alloc(dev, BN) : undefined, uOut: uS, ckV: undefined, ckI: undefined });
      const u = toHost(uS);
      const s = rec.customSurrogate(u, c.theta);
      if (s === null || typeof s !== 'object' || typeof (s as ArrayLike<number>).length !== 'number')
        throw new TypeError(`${what}: surrogateGradFn must return a Float32Array of ${u.length} values, got ${describe(s)}`);
      if ((s as ArrayLike<number>).length !== u.length)
        throw new RangeError(`${what}: surrogateGradFn returned ${(s as ArrayLike<number>).length} values, expected ${u.length}`);
      sigmaGiven = place(dev, s instanceof Float32Array ? s : Float32Array.from(s as ArrayLike<number>));
      surr = SURR_GIVEN;
    }
    const carry = rec.carry;
    const args: NativeBackwardArgs = {
      ...c,
      emulate: _cudaLaunchEmulation(),
      surr,
      sigmaGiven,
      ckV: c.ckV!,
      gradOut: g._storage(),
      gvEnd: carry?.gv,
      giEnd: carry?.gi ?? undefined,
      gradIn: outTensor ? outTensor._storage() : alloc(dev, B * T * N),
      gvStart: alloc(dev, BN),
      giStart: c.hasSyn ? alloc(dev, BN) : undefined,
      gAlphaMem: new Float64Array(N),
      gAlphaSyn: c.hasSyn ? new Float64Array(N) : undefined,
    };
    return { rec, args, outTensor };
  }

  #commitBackward(rec: Pending, args: NativeBackwardArgs, outTensor: Tensor | null): Tensor {
    this.#pending.pop();
    // The state produced by this call has no gradient path any more: a later forward starts anew.
    if (this.#stateOwner === rec) this.#stateOwner = null;
    // carry the initial-state adjoints into the previous call (the one this call continued from)
    const prev = this.#pending[this.#pending.length - 1];
    if (!prev || rec.link.kind === 'start') return this.#finishBackward(rec, args, outTensor);
    if (rec.link.kind === 'carry') prev.carry = { gv: args.gvStart, gi: args.giStart ?? null };
    else {
      const { idxV, idxI } = rec.link;
      const N = rec.N, Bp = prev.B;
      const gv = new Float32Array(Bp * N);
      const gi = args.giStart ? new Float32Array(Bp * N) : null;
      const gvS = toHost(args.gvStart), giS = args.giStart ? toHost(args.giStart) : null;
      for (let b = 0; b < rec.B; ++b) {
        const dv = idxV[b]! * N;
        for (let n = 0; n < N; ++n) gv[dv + n] += gvS[b * N + n]!;
        if (gi && giS && idxI) {
          const di = idxI[b]! * N;
          for (let n = 0; n < N; ++n) gi[di + n] += giS[b * N + n]!;
        }
      }
      prev.carry = { gv: place(this.#device, gv), gi: gi ? place(this.#device, gi) : null };
    }
    return this.#finishBackward(rec, args, outTensor);
  }

  #finishBackward(rec: Pending, args: NativeBackwardArgs, outTensor: Tensor | null): Tensor {
    accumulateGrad(rec.memGrad, args.gAlphaMem);
    if (rec.synGrad && args.gAlphaSyn) accumulateGrad(rec.synGrad, args.gAlphaSyn);
    if (outTensor) return outTensor;
    return Tensor._adopt(args.gradIn, rec.inputShape, this.#device);
  }

  /**
   * Backward of the most recent forward not yet backwarded: returns dL/d(its input) given
   * dL/d(its output), accumulates parameter gradients into `.grad`, and carries the state
   * adjoint into the call before it. Call it for earlier calls in reverse order.
   */
  backward(gradOutput: Tensor, opts?: BackwardOptions): Tensor {
    this.#notBusy('backward');
    const { rec, args, outTensor } = this.#prepareBackward(gradOutput, opts, 'backward');
    native().lifBackward(args);
    return this.#commitBackward(rec, args, outTensor);
  }

  /** backward() on the libuv thread pool, queued behind other async calls on this layer. */
  backwardAsync(gradOutput: Tensor, opts?: BackwardOptions): Promise<Tensor> {
    let g: Tensor;
    try {
      g = checkTensor(gradOutput, 'backwardAsync: gradOutput');
      g = Tensor._adopt(g._storage(), g.shape, g.device);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#enqueue(async () => {
      const { rec, args, outTensor } = this.#prepareBackward(g, opts, 'backwardAsync');
      await native().lifBackwardAsync(args);
      return this.#commitBackward(rec, args, outTensor);
    });
  }

  /**
   * A Node Transform (object mode) that runs this layer over (B, T, ...neurons) chunks and emits
   * their outputs, carrying state across chunks: splitting a sequence into chunks gives the same
   * output as one call. Puts the layer in eval mode unless `{ eval: false }`.
   */
  stream(options?: LayerStreamOptions): Transform {
    return layerStream(this, options);
  }

  /** The async-iterator form of stream(): yields the output of each chunk of `source`. */
  iterate(source: AsyncIterable<Tensor> | Iterable<Tensor>, options?: LayerIterateOptions): AsyncGenerator<Tensor> {
    return layerIterate(this, source, options);
  }

  /** A sinabs-like repr, e.g. `LIF(tau_mem=20, spike_threshold=1, norm_input=True)`. */
  toString(): string {
    const parts: string[] = [];
    const fmt = (t: Tensor | null): string => (t === null ? 'None' : t.size === 1 ? String(t.item()) : `Tensor[${t.shape.join(', ')}]`);
    if (this.kind !== 'IAF') parts.push(`tau_mem=${fmt(this.tauMemCalculated)}`);
    if (this.hasSynapse) parts.push(`tau_syn=${fmt(this.tauSynCalculated)}`);
    if (this.#threshold) parts.push(`spike_threshold=${fmt(this.#threshold)}`);
    if (this.#minVMem) parts.push(`min_v_mem=${fmt(this.#minVMem)}`);
    if (this.kind !== 'IAF') parts.push(`norm_input=${this.normInput ? 'True' : 'False'}`);
    return `${this.kind}(${parts.join(', ')})`;
  }
}

/** Adds a per-neuron alpha gradient (double) into a parameter's grad, reduced to its shape. */
function accumulateGrad(info: ParamGradInfo, gN: Float64Array): void {
  const { param, map, dAlpha } = info;
  if (!param.requiresGrad) return;
  const size = param.size;
  const g = new Float64Array(size);
  if (map === null) {
    let s = 0;
    for (let n = 0; n < gN.length; ++n) s += gN[n]!;
    g[0] = s;
  } else {
    for (let n = 0; n < gN.length; ++n) g[map[n]!] += gN[n]!;
  }
  if (dAlpha) for (let k = 0; k < size; ++k) g[k]! *= dAlpha[k]!;
  if (!param.grad) param.grad = Tensor.zeros(param.shape);
  const cur = param.grad._data();
  const next = new Float32Array(size);
  for (let k = 0; k < size; ++k) next[k] = cur[k]! + g[k]!;
  param.grad._assign(next);
}

function alphaOf(tau: Tensor): Tensor {
  const d = tau._data();
  const a = new Float32Array(d.length);
  for (let k = 0; k < d.length; ++k) a[k] = Math.exp(-1 / d[k]!);
  return Tensor._adopt(a, tau.shape);
}

function tauOf(alpha: Tensor): Tensor {
  const d = alpha._data();
  const t = new Float32Array(d.length);
  for (let k = 0; k < d.length; ++k) t[k] = -1 / Math.log(d[k]!);
  return Tensor._adopt(t, alpha.shape);
}
