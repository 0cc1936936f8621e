// The options of the LIF family: their types, and the reader that checks a constructor's options
// object against a variant and turns it into a plain configuration.
import {
  Gaussian,
  Heaviside,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiGaussian,
  MultiSpike,
  PeriodicExponential,
  SingleExponential,
  SingleSpike,
  type CustomSpikeFn,
  type ResetFnSpec,
  type SpikeFnSpec,
  type SurrogateSpec,
} from '../activations.js';
import { resolveDevice } from '../backend.js';
import { Tensor, checkShape, describe } from '../tensor.js';
import { checkOptions, readBool, readScalar, readTensor } from '../validate.js';
import { checkDtype } from '../dtype.js';
import { SPIKE_DTYPES, type SpikeDtype } from './io.js';
import type { LayerVariant } from './variant.js';

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
  /**
   * The element type of the spikes `forward` returns: 'float32' (default) or 'uint8' (1 byte per
   * neuron-step instead of 4; cpu layers; not with spikeFn null, whose output is the membrane
   * potential). The spikes are the same numbers: a call whose spike count does not fit in 0..255
   * (MultiSpike is unbounded; SingleSpike and MaxSpike(m <= 255) always fit) throws a RangeError
   * naming the element and leaves the layer's state unchanged (with `{ out }`, the out tensor's
   * contents are then unspecified); a float32 count of -0 is the uint8 count 0. With 'uint8',
   * `{ out }` must be a uint8 tensor.
   */
  spikeDtype?: SpikeDtype;
  /** 'cpu' (default), 'cuda' (= 'cuda:0'), 'cuda:N', or 'auto' (CUDA when usable, else CPU). Where CUDA
   * is unusable, 'cuda' throws an Error whose `code` and message say why. */
  device?: string;
  /** Seed of the generator used for batch resampling and randomised resets. */
  seed?: number;
}

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

/** A constructor's options, checked: what the layer is made of. */
export interface LayerConfig {
  /** tau_mem (host tensor), or null without a leak (IAF). */
  tauMem: Tensor | null;
  tauSyn: Tensor | null;
  /** The spike threshold, or null without spikes (ExpLeak). */
  threshold: number | null;
  minVMem: number | null;
  trainAlphas: boolean;
  normInput: boolean;
  recordStates: boolean;
  spikeFn: SpikeFnSpec | null;
  resetFn: ResetFnSpec;
  surrogateGradFn: SurrogateSpec;
  spikeDtype: SpikeDtype;
  shape: number[] | null;
  device: string;
  seed: number | undefined;
}

/** Checks `resetStates` options. */
export function readResetOptions(opts: unknown): {
  randomize: boolean;
  ranges: NonNullable<ResetStatesOptions['valueRanges']>;
} {
  const o = checkOptions<ResetStatesOptions>(
    opts,
    ['randomize', 'valueRanges'],
    'resetStates',
    true,
    '{ randomize: true }',
  );
  const randomize = readBool(o.randomize, 'resetStates: randomize', false);
  const ranges = o.valueRanges;
  if (ranges === undefined) return { randomize, ranges: {} };
  if (ranges === null || typeof ranges !== 'object')
    throw new TypeError('resetStates: valueRanges must be an object such as { v_mem: [0, 1] }');
  for (const [k, r] of Object.entries(ranges)) {
    if (k !== 'v_mem' && k !== 'i_syn')
      throw new TypeError(`resetStates: valueRanges has an unknown state '${k}' (expected 'v_mem' or 'i_syn')`);
    if (
      !Array.isArray(r) ||
      r.length !== 2 ||
      !r.every((x) => typeof x === 'number' && Number.isFinite(x)) ||
      r[0] > r[1]
    )
      throw new RangeError(`resetStates: valueRanges.${k} must be [low, high] with finite numbers and low <= high`);
  }
  return { randomize, ranges };
}

const SURROGATE_CLASSES = [SingleExponential, Heaviside, Gaussian, MultiGaussian, PeriodicExponential];
const positive = (x: number): boolean => x > 0;

/** Checks a constructor's options against the variant; throws TypeError/RangeError naming the option. */
export function readLayerOptions(options: unknown, variant: LayerVariant): LayerConfig {
  const { kind } = variant;
  const o = checkOptions<LIFOptions>(options, variant.options, kind, false, variant.example);
  if (variant.leak && (o.tauMem === undefined || o.tauMem === null))
    throw new TypeError(`${kind}: tauMem is required (a number or a Tensor)`);
  const trainAlphas = readBool(o.trainAlphas, 'LIF: trainAlphas', false);
  const normInput = readBool(o.normInput, 'LIF: normInput', variant.normInputDefault);
  const recordStates = readBool(o.recordStates, 'LIF: recordStates', false);
  if (o.seed !== undefined && (typeof o.seed !== 'number' || !Number.isInteger(o.seed)))
    throw new TypeError(`LIF: seed must be an integer, got ${describe(o.seed)}`);
  const device = resolveDevice(o.device, 'LIF: device');
  const tauMem = variant.leak ? readTensor(o.tauMem, 'LIF: tauMem', positive, 'a finite positive number') : null;
  const tauSyn =
    o.tauSyn === undefined || o.tauSyn === null
      ? null
      : readTensor(o.tauSyn, 'LIF: tauSyn', positive, 'a finite positive number');
  const threshold =
    o.spikeThreshold === undefined
      ? 1
      : readScalar(o.spikeThreshold, 'LIF: spikeThreshold', positive, 'a finite positive number');
  const minVMem =
    o.minVMem === undefined || o.minVMem === null
      ? null
      : readScalar(o.minVMem, 'LIF: minVMem', () => true, 'a finite number');
  const spikeDtype = (
    o.spikeDtype === undefined ? 'float32' : checkDtype(o.spikeDtype, `${kind}: spikeDtype`, SPIKE_DTYPES)
  ) as SpikeDtype;
  const spikeFn = variant.spikes ? readSpikeFn(o.spikeFn) : null;
  if (spikeDtype !== 'float32' && spikeFn === null)
    throw new RangeError(
      `${kind}: spikeDtype '${spikeDtype}' needs a spike function; with spikeFn null the output is the membrane potential (use 'float32')`,
    );
  let shape: number[] | null = null;
  if (o.shape !== undefined && o.shape !== null) {
    const n = checkShape(o.shape, 'LIF: shape');
    if (o.shape.length < 1 || n === 0)
      throw new RangeError('LIF: shape must include the batch dimension and have no zero dimension, e.g. [B, C]');
    shape = o.shape.slice();
  }
  return {
    tauMem,
    tauSyn,
    minVMem,
    trainAlphas,
    normInput,
    recordStates,
    shape,
    device,
    seed: o.seed,
    threshold: variant.spikes ? threshold : null,
    spikeFn,
    spikeDtype,
    resetFn: readResetFn(o.resetFn),
    surrogateGradFn: readSurrogate(o.surrogateGradFn),
  };
}

function readSpikeFn(v: unknown): SpikeFnSpec | null {
  if (v === undefined) return MultiSpike;
  if (v === null) return null;
  if (
    v === MultiSpike ||
    v === SingleSpike ||
    v instanceof MultiSpike ||
    v instanceof SingleSpike ||
    v instanceof MaxSpike
  )
    return v as SpikeFnSpec;
  if (typeof v === 'object' && typeof (v as CustomSpikeFn).forward === 'function') return v as CustomSpikeFn;
  throw new TypeError(
    `LIF: spikeFn must be MultiSpike, SingleSpike, a MaxSpike instance, an object with forward(vMem, threshold), or null; got ${describe(v)}`,
  );
}

function readResetFn(v: unknown): ResetFnSpec {
  if (v === undefined) return new MembraneSubtract();
  if (v instanceof MembraneSubtract || v instanceof MembraneReset) return v;
  throw new TypeError(`LIF: resetFn must be a MembraneSubtract or MembraneReset instance, got ${describe(v)}`);
}

function readSurrogate(v: unknown): SurrogateSpec {
  if (v === undefined) return new SingleExponential();
  if (SURROGATE_CLASSES.includes(v as never))
    throw new TypeError(
      `LIF: surrogateGradFn must be a surrogate instance, e.g. new ${(v as { name: string }).name}(), not the class`,
    );
  if (typeof v === 'function' || SURROGATE_CLASSES.some((c) => v instanceof c)) return v as SurrogateSpec;
  throw new TypeError(
    `LIF: surrogateGradFn must be a surrogate instance (e.g. new SingleExponential()) or a function (vMem, threshold) => sigma, got ${describe(v)}`,
  );
}
